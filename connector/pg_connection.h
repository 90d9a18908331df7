#pragma once
// RAII over libpq's PGconn and PGresult. pg_*.cpp are the only files that include
// libpq; every libpq error becomes a Status classified by its SQLSTATE here, once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "connector/status.h"

struct pg_conn;
struct pg_result;

namespace kps {

/// One query result; move-only, cleared in the destructor.
class PgResult {
 public:
  explicit PgResult(pg_result* result);
  int row_count() const;
  bool is_null(int row, int column) const;
  std::string_view value(int row, int column) const;
  /// Rows touched by an INSERT/UPDATE/DELETE.
  uint64_t affected_rows() const;

 private:
  struct Clear {
    void operator()(pg_result* result) const;
  };
  std::unique_ptr<pg_result, Clear> result_;
};

/// What a failed statement's error says beyond its message: where a bad row is.
struct PgErrorPosition {
  std::string column;                  // the column PostgreSQL names, if any
  std::optional<uint64_t> copy_line;   // "COPY t, line N": the N-th row sent (from 1)
};

/// A text parameter of a parameterised statement; nullopt is SQL NULL.
using PgParam = std::optional<std::string_view>;

/// What every session is set to right after connecting, with SET, so that neither the
/// DSN's `options` nor PGOPTIONS nor the role's or database's defaults can undo it:
/// client_encoding UTF8 (records are UTF-8; the server converts to the database's
/// encoding or refuses a character it cannot hold with 22P05), TimeZone UTC, and the
/// two timeouts that bound a write.
struct SessionSettings {
  std::chrono::milliseconds statement_timeout{0};  // 0: none
  std::chrono::milliseconds lock_timeout{0};       // 0: none
};

/// One connection. Not thread-safe. Every call either succeeds or returns a Status
/// whose code() is the SQLSTATE (empty when the connection itself failed).
class PgConnection {
 public:
  /// Connects with `dsn` (keyword/value or URI); our defaults (application_name,
  /// TCP keepalives, connect_timeout) apply unless the DSN sets them; `settings` apply
  /// whatever the DSN sets.
  static Result<PgConnection> connect(const std::string& dsn, const SessionSettings& settings = {});

  /// Runs `sql` (which may hold several statements). `failpoint_after_send` names a
  /// failpoint hit once the statement has left for the server and before its reply
  /// is read: how the fault tests die "after COMMIT was sent".
  Status execute(const std::string& sql, const char* failpoint_after_send = nullptr);
  Result<PgResult> query(const std::string& sql, std::span<const PgParam> params = {});
  Status prepare(const std::string& name, const std::string& sql);
  Result<PgResult> execute_prepared(const std::string& name, std::span<const PgParam> params);

  /// COPY … FROM STDIN: start, send data in any chunks (copy_send cuts a large one into
  /// kCopySendChunkBytes pieces), finish.
  Status copy_begin(const std::string& copy_sql);
  Status copy_send(std::string_view data);
  Status copy_end();

  /// Of the last statement that failed with a SQLSTATE.
  const PgErrorPosition& last_error_position() const { return last_error_position_; }

  /// The server is gone or the session unusable: reconnect before the next call.
  bool is_broken() const;
  int server_version() const;

 private:
  struct Finish {
    void operator()(pg_conn* connection) const;
  };
  explicit PgConnection(pg_conn* connection);
  Status error_from_result(const pg_result* result, std::string_view what) const;
  Status connection_error(std::string_view what) const;
  Result<PgResult> checked(pg_result* result, std::string_view what) const;

  std::unique_ptr<pg_conn, Finish> connection_;
  mutable PgErrorPosition last_error_position_;
};

/// The row number in a COPY error's context ("COPY events, line 17, column ts: ...").
std::optional<uint64_t> copy_line_from_context(std::string_view context);
/// The column named by a COPY error's context, if any.
std::string copy_column_from_context(std::string_view context);

/// Whether libpq can parse `dsn` (keyword/value or URI). libpq's own message is not
/// given out: for a password with an unquoted space it quotes the password's second half.
bool dsn_parses(const std::string& dsn);

/// libpq's version, for --version ("15.18").
std::string libpq_version();

}  // namespace kps
