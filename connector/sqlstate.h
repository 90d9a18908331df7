#pragma once
// SQLSTATE -> ErrorKind: the whole table in one function, so what is retried, what is
// blamed on the data and what stops the daemon is decided in exactly one place.

#include <string_view>

#include "connector/status.h"

namespace kps {

/// Transient: 08 connection, 40001 serialization, 40P01 deadlock, 53 resources,
/// 55P03 lock not available, 57P01/02/03 shutdown or crash. Poison: 22 data
/// exception, 23 constraint violation. Everything else (28 auth, 42 undefined
/// object/privilege/syntax, 3D000 no database, ...) is Fatal. An empty SQLSTATE
/// (libpq lost the connection before the server said anything) is Transient.
ErrorKind classify_sqlstate(std::string_view sqlstate);

}  // namespace kps
