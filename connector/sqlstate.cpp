#include "connector/sqlstate.h"

#include <array>

namespace kps {
namespace {

/// A five-character code, or a two-character class that covers every code in it. A code
/// listed here wins over its class.
struct SqlstateRule {
  std::string_view code;
  ErrorKind kind;
};

constexpr std::array kRules = {
    // Operational states of the database: they pass, so they are waited out, whichever
    // statement hit them, and never make a record bad.
    SqlstateRule{"08", ErrorKind::Transient},     // connection exception
    SqlstateRule{"25006", ErrorKind::Transient},  // read-only transaction: switchover, default_transaction_read_only
    SqlstateRule{"40001", ErrorKind::Transient},  // serialization failure
    SqlstateRule{"40P01", ErrorKind::Transient},  // deadlock detected
    SqlstateRule{"53", ErrorKind::Transient},     // insufficient resources: 53100 disk full, 53300 too many connections
    SqlstateRule{"55P03", ErrorKind::Transient},  // lock not available (lock_timeout)
    SqlstateRule{"57014", ErrorKind::Transient},  // query canceled (statement_timeout, pg_cancel_backend)
    SqlstateRule{"57P01", ErrorKind::Transient},  // admin shutdown (also pg_terminate_backend)
    SqlstateRule{"57P02", ErrorKind::Transient},  // crash shutdown
    SqlstateRule{"57P03", ErrorKind::Transient},  // cannot connect now: starting up, crash recovery
    SqlstateRule{"57P05", ErrorKind::Transient},  // idle_session_timeout
    // The record's data.
    SqlstateRule{"22", ErrorKind::Poison},  // data exception
    SqlstateRule{"23", ErrorKind::Poison},  // integrity constraint violation (23514: see is_missing_partition)
    // "ON CONFLICT DO UPDATE command cannot affect row a second time": two rows of one batch
    // that the key reducer kept apart name one row (a jsonb key written in two key orders, a
    // case-insensitive collation). The rows are the problem: the batch is narrowed down.
    SqlstateRule{"21000", ErrorKind::Poison},
};

}  // namespace

bool is_missing_partition(std::string_view sqlstate, const ServerErrorDetail& detail) {
  // A row written straight into a partition that is not its own is refused as
  // "violates partition constraint", also without a constraint name: that one is the
  // record's (no partition the operator creates makes it fit the configured table).
  return sqlstate == "23514" && !detail.names_constraint &&
         detail.message.find("partition constraint") == std::string_view::npos;
}

ErrorKind classify_sqlstate(std::string_view sqlstate, const ServerErrorDetail& detail) {
  if (sqlstate.size() != 5) return ErrorKind::Transient;
  if (is_missing_partition(sqlstate, detail)) return ErrorKind::Transient;
  for (const SqlstateRule& rule : kRules) {
    if (rule.code == sqlstate) return rule.kind;
  }
  for (const SqlstateRule& rule : kRules) {
    if (rule.code.size() == 2 && sqlstate.starts_with(rule.code)) return rule.kind;
  }
  return ErrorKind::Fatal;
}

}  // namespace kps
