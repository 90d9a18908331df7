// classify_sqlstate: every SQLSTATE the README's delivery table names, so that a change to
// the table that turns an operational state into a fatal stop or a bad record fails here.
#include "connector/sqlstate.h"

#include <catch2/catch.hpp>

#include <string>

using kps::classify_sqlstate;
using kps::ErrorKind;
using kps::is_missing_partition;
using kps::ServerErrorDetail;

TEST_CASE("operational database states are transient: waited out, never fatal, never a bad record") {
  const char* const operational[] = {
      "08000", "08003", "08006", "08001", "08004",  // connection lost or refused
      "25006",                                      // read-only transaction (switchover, default_transaction_read_only)
      "57P01", "57P02", "57P03",                    // admin shutdown, crash shutdown, starting up / crash recovery
      "57P05",                                      // idle_session_timeout
      "57014",                                      // statement_timeout, query cancel
      "55P03",                                      // lock_timeout
      "40P01", "40001",                             // deadlock, serialization failure
      "53300", "53100", "53200", "53400",           // too many connections, disk full, out of memory, limits
  };
  for (const char* sqlstate : operational) {
    INFO(sqlstate);
    CHECK(classify_sqlstate(sqlstate) == ErrorKind::Transient);
  }
}

TEST_CASE("a row that no partition accepts is the operator's to fix and is waited out, a failed CHECK is the record's") {
  const ServerErrorDetail no_partition{false, "no partition of relation \"events\" found for row"};
  CHECK(classify_sqlstate("23514", no_partition) == ErrorKind::Transient);
  CHECK(is_missing_partition("23514", no_partition));
  // Whatever language the server speaks, routing names no constraint.
  const ServerErrorDetail translated{false, "keine Partition von Relation »events« für Zeile gefunden"};
  CHECK(classify_sqlstate("23514", translated) == ErrorKind::Transient);

  const ServerErrorDetail check{true, "new row for relation \"events\" violates check constraint \"positive\""};
  CHECK(classify_sqlstate("23514", check) == ErrorKind::Poison);
  CHECK_FALSE(is_missing_partition("23514", check));
  CHECK(classify_sqlstate("23514") == ErrorKind::Poison);
  // Written straight into a partition that is not the row's: no partition to create helps.
  const ServerErrorDetail wrong_partition{false, "new row for relation \"events_2026\" violates partition constraint"};
  CHECK(classify_sqlstate("23514", wrong_partition) == ErrorKind::Poison);
  // No constraint named on another code means nothing.
  CHECK_FALSE(is_missing_partition("23505", no_partition));
}

TEST_CASE("data exceptions and constraint violations are bad records") {
  const char* const poison[] = {
      "22P05",  // untranslatable character (a LATIN1 database and a UTF-8 "€")
      "22001", "22003", "22007", "22P02", "22021",
      "23505", "23502", "23503", "23514",
  };
  for (const char* sqlstate : poison) {
    INFO(sqlstate);
    CHECK(classify_sqlstate(sqlstate) == ErrorKind::Poison);
  }
}

TEST_CASE("configuration and environment errors are fatal") {
  const char* const fatal[] = {
      "28P01", "28000",                    // authentication
      "42P01", "42703", "42501", "42601",  // no table, no column, no privilege, syntax
      "3D000",                             // no such database
      "25P02",                             // in a failed transaction: our bug, not the database's state
      "57P04",                             // database dropped
      "XX000",                             // internal error
  };
  for (const char* sqlstate : fatal) {
    INFO(sqlstate);
    CHECK(classify_sqlstate(sqlstate) == ErrorKind::Fatal);
  }
}

TEST_CASE("no SQLSTATE at all means the connection went away before the server answered") {
  CHECK(classify_sqlstate("") == ErrorKind::Transient);
  CHECK(classify_sqlstate("08") == ErrorKind::Transient);
}
