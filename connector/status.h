#pragma once
// Errors inside the streaming loop are values. Each adapter classifies its library's
// error once, where it enters, into one of three kinds; the connector decides what to
// do (retry, stop) in one place.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace kps {

enum class ErrorKind {
  Transient,  // retrying later may succeed (connection lost, deadlock, broker away)
  Poison,     // the data is at fault (bad record, constraint violation)
  Fatal,      // configuration or environment is wrong; retrying cannot help
};

const char* error_kind_name(ErrorKind kind);

/// What went wrong, where the kind alone does not say enough for the connector to act:
/// set once where the error is classified, acted on in one switch (failure_policy.h).
enum class Cause : uint8_t {
  Unspecified,        // the kind and the message say it all (a database error, a config error...)
  Fenced,             // a stored offset was moved by someone else (another owner, an offsets reset)
  PartitionsLost,     // the group took partitions without a revoke
  DeadLetters,        // the dead letter topic did not acknowledge
  UndecodableRecord,  // a record that fits no column (errors.tolerance: none)
  RefusedRecord,      // PostgreSQL refused a record for its data (tolerance none); code() is the SQLSTATE
};

class Status {
 public:
  Status() = default;  // ok
  static Status ok() { return Status(); }
  static Status error(ErrorKind kind, std::string message, std::string code = {}) {
    return error(kind, Cause::Unspecified, std::move(message), std::move(code));
  }
  static Status error(ErrorKind kind, Cause cause, std::string message, std::string code = {}) {
    Status s;
    s.cause_ = cause;
    s.ok_ = false;
    s.kind_ = kind;
    s.message_ = std::move(message);
    s.code_ = std::move(code);
    return s;
  }

  bool is_ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  Cause cause() const { return cause_; }
  /// Library error code when there is one (a SQLSTATE, a librdkafka error name).
  const std::string& code() const { return code_; }

 private:
  bool ok_ = true;
  ErrorKind kind_ = ErrorKind::Fatal;
  Cause cause_ = Cause::Unspecified;
  std::string message_;
  std::string code_;
};

/// A value or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}             // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {}      // NOLINT: must not be ok

  bool is_ok() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return is_ok(); }
  T& value() { return std::get<T>(value_); }
  const T& value() const { return std::get<T>(value_); }
  const Status& status() const { return std::get<Status>(value_); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace kps
