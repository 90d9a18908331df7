#include "connector/pg_connection.h"

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "connector/copy_encoder.h"
#include "connector/failpoint.h"
#include "connector/log.h"
#include "connector/sqlstate.h"

namespace kps {
namespace {

/// libpq's message on one line: log lines are one decision each.
std::string trimmed(const char* text) {
  std::string out;
  bool after_newline = false;
  for (const char* c = text ? text : ""; *c != '\0'; ++c) {
    if (*c == '\n') {
      after_newline = true;
    } else if (after_newline && (*c == '\t' || *c == ' ')) {
      continue;
    } else {
      if (after_newline) out += ' ';
      after_newline = false;
      out += *c;
    }
  }
  return out;
}

}  // namespace

void PgResult::Clear::operator()(pg_result* result) const { PQclear(result); }

PgResult::PgResult(pg_result* result) : result_(result) {}

int PgResult::row_count() const { return PQntuples(result_.get()); }

bool PgResult::is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }

std::string_view PgResult::value(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column),
          static_cast<size_t>(PQgetlength(result_.get(), row, column))};
}

uint64_t PgResult::affected_rows() const {
  return std::strtoull(PQcmdTuples(result_.get()), nullptr, 10);
}

void PgConnection::Finish::operator()(pg_conn* connection) const { PQfinish(connection); }

PgConnection::PgConnection(pg_conn* connection) : connection_(connection) {}

Result<PgConnection> PgConnection::connect(const std::string& dsn, const SessionSettings& settings) {
  // Keywords listed before "dbname" are our defaults; the expanded DSN that follows
  // overrides any of them it sets. Keepalives bound how long a dead peer goes unseen.
  // tcp_user_timeout bounds how long sent data may stay unacknowledged (a dead
  // network in the middle of a COPY), where keepalives only cover an idle connection.
  // client_encoding comes after the DSN so that the startup packet already says UTF8
  // (errors in the connection's first replies are decoded right); the SET below is what
  // holds whatever the DSN's options say.
  const std::array<const char*, 10> keywords = {"application_name", "connect_timeout", "keepalives",
                                                "keepalives_idle", "keepalives_interval", "keepalives_count",
                                                "tcp_user_timeout", "dbname", "client_encoding", nullptr};
  const std::array<const char*, 10> values = {"kafka-pg-sink", "10", "1", "30", "10", "3", "60000",
                                              dsn.c_str(), "UTF8", nullptr};
  pg_conn* raw = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  PgConnection connection(raw);
  if (raw == nullptr) {
    return Status::error(ErrorKind::Transient, "cannot connect to PostgreSQL: out of memory");
  }
  if (PQstatus(raw) != CONNECTION_OK) {
    return connection.connection_error("cannot connect to PostgreSQL");
  }
  // Server notices ("relation already exists, skipping") are chatter, not decisions.
  PQsetNoticeProcessor(raw, [](void*, const char* message) { log::debug("postgres: ", trimmed(message)); }, nullptr);
  // SET after the startup packet wins over the DSN's `options`, PGOPTIONS and the role's
  // and database's defaults: these are what the writer's correctness and liveness rest on.
  const std::string session =
      "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; SET statement_timeout = " +
      std::to_string(settings.statement_timeout.count()) + "; SET lock_timeout = " +
      std::to_string(settings.lock_timeout.count());
  if (Status status = connection.execute(session); !status) return status;
  return connection;
}

Status PgConnection::connection_error(std::string_view what) const {
  // libpq's connection messages name host and user, never the password.
  const std::string detail = trimmed(PQerrorMessage(connection_.get()));
  const ErrorKind kind = PQconnectionUsedPassword(connection_.get()) &&
                                 detail.find("password authentication failed") != std::string::npos
                             ? ErrorKind::Fatal
                             : ErrorKind::Transient;
  return Status::error(kind, std::string(what) + ": " + detail);
}

Status PgConnection::error_from_result(const pg_result* result, std::string_view what) const {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (sqlstate == nullptr) return connection_error(what);
  std::string message = std::string(what) + ": " + trimmed(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
  if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) message += " (" + trimmed(detail) + ")";
  const char* context = PQresultErrorField(result, PG_DIAG_CONTEXT);
  if (context != nullptr) message += " [" + trimmed(context) + "]";
  const char* column = PQresultErrorField(result, PG_DIAG_COLUMN_NAME);
  last_error_position_.column = column != nullptr ? column : context != nullptr ? copy_column_from_context(context) : "";
  last_error_position_.copy_line = context != nullptr ? copy_line_from_context(context) : std::nullopt;
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const ServerErrorDetail detail{PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME) != nullptr,
                                 primary != nullptr ? primary : ""};
  if (is_missing_partition(sqlstate, detail)) {
    // The message names the table and the detail the partition key's value.
    message += "; create the partition that holds this value: the write is retried until it exists";
  }
  return Status::error(classify_sqlstate(sqlstate, detail), std::move(message), sqlstate);
}

bool dsn_parses(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options != nullptr) PQconninfoFree(options);
  if (error != nullptr) PQfreemem(error);
  return options != nullptr;
}

std::optional<uint64_t> copy_line_from_context(std::string_view context) {
  if (!context.starts_with("COPY ")) return std::nullopt;
  const size_t at = context.find(", line ");
  if (at == std::string_view::npos) return std::nullopt;
  uint64_t line = 0;
  const char* begin = context.data() + at + 7;
  const auto [end, error] = std::from_chars(begin, context.data() + context.size(), line);
  if (error != std::errc() || end == begin) return std::nullopt;
  return line;
}

std::string copy_column_from_context(std::string_view context) {
  if (!context.starts_with("COPY ")) return {};
  const size_t at = context.find(", column ");
  if (at == std::string_view::npos) return {};
  std::string_view column = context.substr(at + 9);
  column = column.substr(0, column.find_first_of(":\n"));
  return std::string(column);
}

Result<PgResult> PgConnection::checked(pg_result* raw, std::string_view what) const {
  PgResult result(raw);
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  return error_from_result(raw, what);
}

Status PgConnection::execute(const std::string& sql, const char* failpoint_after_send) {
  if (PQsendQuery(connection_.get(), sql.c_str()) != 1) return connection_error("statement failed");
  if (failpoint_after_send != nullptr) {
    while (PQflush(connection_.get()) == 1) {
    }
    failpoint(failpoint_after_send);
  }
  Status status;
  // Drain every result: the first failure explains the statement.
  while (pg_result* raw = PQgetResult(connection_.get())) {
    const PgResult result(raw);
    const ExecStatusType result_status = PQresultStatus(raw);
    if (status.is_ok() && result_status != PGRES_COMMAND_OK && result_status != PGRES_TUPLES_OK) {
      status = error_from_result(raw, "statement failed");
    }
  }
  if (status.is_ok() && is_broken()) status = connection_error("statement failed");
  return status;
}

namespace {

struct ParamArrays {
  explicit ParamArrays(std::span<const PgParam> params) {
    storage.reserve(params.size());
    for (const PgParam& param : params) {
      storage.push_back(param ? std::optional<std::string>(std::string(*param)) : std::nullopt);
    }
    for (const auto& value : storage) pointers.push_back(value ? value->c_str() : nullptr);
  }
  std::vector<std::optional<std::string>> storage;  // libpq wants NUL-terminated text
  std::vector<const char*> pointers;
};

}  // namespace

Result<PgResult> PgConnection::query(const std::string& sql, std::span<const PgParam> params) {
  const ParamArrays arrays(params);
  return checked(PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                              arrays.pointers.data(), nullptr, nullptr, 0),
                 "query failed");
}

Status PgConnection::prepare(const std::string& name, const std::string& sql) {
  auto result = checked(PQprepare(connection_.get(), name.c_str(), sql.c_str(), 0, nullptr),
                        "prepare failed");
  return result.is_ok() ? Status::ok() : result.status();
}

Result<PgResult> PgConnection::execute_prepared(const std::string& name, std::span<const PgParam> params) {
  const ParamArrays arrays(params);
  return checked(PQexecPrepared(connection_.get(), name.c_str(), static_cast<int>(params.size()),
                                arrays.pointers.data(), nullptr, nullptr, 0),
                 "statement failed");
}

Status PgConnection::copy_begin(const std::string& copy_sql) {
  pg_result* raw = PQexec(connection_.get(), copy_sql.c_str());
  const PgResult result(raw);
  if (raw != nullptr && PQresultStatus(raw) == PGRES_COPY_IN) return Status::ok();
  return error_from_result(raw, "COPY failed to start");
}

Status PgConnection::copy_send(std::string_view data) {
  // PQputCopyData takes an int size: a whole batch may not fit in one call.
  for (std::string_view rest = data; !rest.empty();) {
    const std::string_view chunk = take_copy_chunk(rest);
    if (PQputCopyData(connection_.get(), chunk.data(), static_cast<int>(chunk.size())) != 1) {
      return connection_error("COPY failed while sending data");
    }
  }
  return Status::ok();
}

Status PgConnection::copy_end() {
  if (PQputCopyEnd(connection_.get(), nullptr) != 1) return connection_error("COPY failed at its end");
  Status status;
  // Drain every result: the first failure is the one that explains the COPY.
  while (pg_result* raw = PQgetResult(connection_.get())) {
    PgResult result(raw);
    if (status.is_ok() && PQresultStatus(raw) != PGRES_COMMAND_OK) status = error_from_result(raw, "COPY failed");
  }
  return status;
}

bool PgConnection::is_broken() const {
  return !connection_ || PQstatus(connection_.get()) != CONNECTION_OK;
}

int PgConnection::server_version() const { return PQserverVersion(connection_.get()); }

std::string libpq_version() {
  const int version = PQlibVersion();  // e.g. 150018
  return std::to_string(version / 10000) + "." + std::to_string(version % 100);
}

}  // namespace kps
