#pragma once
// SQLSTATE -> ErrorKind: the whole table in one function, so what is retried, what is
// blamed on the data and what stops the daemon is decided in exactly one place.

#include <string_view>

#include "connector/status.h"

namespace kps {

/// What a server error says beyond its code, for the one code whose meaning depends on
/// it: 23514 is a CHECK (or domain) constraint refusing the row, which names the
/// constraint, or partition routing finding no partition for the row, which names none.
struct ServerErrorDetail {
  bool names_constraint = true;  // PG_DIAG_CONSTRAINT_NAME was set
  std::string_view message;      // PG_DIAG_MESSAGE_PRIMARY
};

/// Transient (waited out with backoff, never blamed on a record): 08 connection,
/// 25006 read-only transaction (a switchover, default_transaction_read_only),
/// 40001 serialization, 40P01 deadlock, 53 resources (disk full, too many
/// connections), 55P03 lock timeout, 57014 statement timeout or cancel, 57P01/02/03
/// shutdown or crash recovery, 57P05 idle_session_timeout, and 23514 for a row that no
/// partition of a partitioned table accepts (the operator must create the partition).
/// Poison: 22 data exception, 23 constraint violation. Everything else (28 auth, 42
/// undefined object/privilege/syntax, 3D000 no database, ...) is Fatal. An empty
/// SQLSTATE (libpq lost the connection before the server said anything) is Transient.
ErrorKind classify_sqlstate(std::string_view sqlstate, const ServerErrorDetail& detail = {});

/// A Transient 23514: the row's partition of a partitioned table does not exist.
bool is_missing_partition(std::string_view sqlstate, const ServerErrorDetail& detail);

}  // namespace kps
