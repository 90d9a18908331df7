#pragma once
// Internal to the codec (decoder.cpp and debezium_decoder.cpp, the only files that include
// simdjson): reading JSON with simdjson's on-demand parser, validating a document in full,
// and converting one JSON value, or the text form of one, into a binary COPY value of a
// column's type. Both decoders convert through the same ValueConverter, so a value means
// the same thing whichever envelope carried it.

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/decoder.h"
#include "connector/record.h"
#include "connector/value_text.h"

namespace kps::codec {

namespace od = simdjson::ondemand;

/// Why a value could not be converted: the reason and its metric label.
struct ValueError {
  DecodeFailure failure;
  std::string reason;
};

/// nullopt on success. Reasons are built only on the error path, so the happy path
/// allocates nothing.
using Failure = std::optional<ValueError>;

inline ValueError fail(DecodeFailure failure, std::string reason) { return ValueError{failure, std::move(reason)}; }

/// Malformed text is an invalid value.
inline DecodeFailure failure_of(TextProblem problem) {
  switch (problem.kind) {
    case TextProblem::Kind::Malformed: return DecodeFailure::InvalidValue;
    case TextProblem::Kind::OutOfRange: return DecodeFailure::OutOfRange;
  }
  return DecodeFailure::InvalidValue;
}

/// `subject` followed by what is wrong with it: "invalid date \"2024-13-01\": month is
/// out of range".
inline ValueError fail(TextProblem problem, std::string subject) {
  return ValueError{failure_of(problem), std::move(subject) + ": " + problem.what};
}

/// The parser's default depth limit; the validating walk enforces it itself because
/// on-demand only meets a too-deep document while descending into it.
constexpr int kMaxJsonDepth = 1024;

/// Error paths only: the config spelling ("double", "timestamptz") users wrote.
inline std::string type_name(ColumnType type) { return std::string(column_type_name(type)); }

inline const char* json_type_name(od::json_type type) {
  switch (type) {
    case od::json_type::array: return "array";
    case od::json_type::object: return "object";
    case od::json_type::number: return "number";
    case od::json_type::string: return "string";
    case od::json_type::boolean: return "boolean";
    case od::json_type::null: return "null";
  }
  return "unknown";
}

inline ValueError invalid_json(simdjson::error_code error) {
  return fail(DecodeFailure::InvalidJson, std::string("invalid JSON: ") + simdjson::error_message(error));
}

inline ValueError invalid_json(const char* what) {
  return fail(DecodeFailure::InvalidJson, std::string("invalid JSON: ") + what);
}

inline ValueError expected(const char* what, od::json_type got) {
  return fail(DecodeFailure::WrongType, std::string("expected ") + what + ", got " + json_type_name(got));
}

/// A JSON number token for a message: numbers are ASCII, only their length needs a cap.
inline std::string number_excerpt(std::string_view token) {
  constexpr size_t kMaxExcerptBytes = 64;
  if (token.size() <= kMaxExcerptBytes) return std::string(token);
  return std::string(token.substr(0, kMaxExcerptBytes)) + "...";
}

inline bool contains_nul(std::string_view text) { return std::memchr(text.data(), '\0', text.size()) != nullptr; }

/// A NUL byte is never valid JSON text (a string must write it \u0000), but simdjson
/// reports it as whatever structure it happens to break ("document ended early"), so
/// it is looked for first and named plainly: C producers that send the terminator do this.
inline Failure find_nul_byte(std::string_view input) {
  const void* nul = std::memchr(input.data(), '\0', input.size());
  if (nul == nullptr) return std::nullopt;
  const auto offset = static_cast<const char*>(nul) - input.data();
  return fail(DecodeFailure::InvalidJson, "invalid JSON: NUL byte at offset " + std::to_string(offset));
}

/// An on-demand parser and the padded copy of its input. Kafka payloads are not
/// padded, so each is copied, followed by the SIMDJSON_PADDING bytes simdjson may read
/// past its end. Both buffers only ever grow.
class JsonReader {
 public:
  JsonReader() {
    // The validating walk refuses nesting beyond kMaxJsonDepth itself; the parser's
    // limit lies above it so that simdjson's own depth assertion (active in
    // unoptimized builds) is never what stops a deep document.
    if (parser_.allocate(kInitialCapacity, kMaxJsonDepth + 1) != simdjson::SUCCESS) throw std::bad_alloc();
  }

  /// The copy of the last input parsed.
  const char* data() const { return storage_.get(); }

  /// Parses `bytes`; the document stays valid until the next call.
  simdjson::simdjson_result<od::document> read(std::string_view bytes) {
    const size_t needed = bytes.size() + simdjson::SIMDJSON_PADDING;
    if (needed > capacity_) {
      capacity_ = std::max(needed, capacity_ * 2);
      storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }
    if (!bytes.empty()) std::memcpy(storage_.get(), bytes.data(), bytes.size());
    std::memset(storage_.get() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);
    if (bytes.size() > parser_.capacity()) {
      // iterate() would size the parser to exactly this record: grow geometrically instead.
      const size_t capacity = std::max(bytes.size(), std::min(parser_.capacity() * 2, parser_.max_capacity()));
      if (const auto error = parser_.allocate(capacity, parser_.max_depth())) return error;
    }
    return parser_.iterate(storage_.get(), bytes.size(), capacity_);
  }

 private:
  static constexpr size_t kInitialCapacity = 4096;

  od::parser parser_;
  std::unique_ptr<char[]> storage_;
  size_t capacity_ = 0;
};

// The same conversions apply to a member value and to a whole (scalar) document;
// these overloads paper over the two classes' differences.
inline std::string_view raw_token(od::value& value) { return value.raw_json_token(); }
inline std::string_view raw_token(od::document& document) {
  std::string_view token;
  if (document.raw_json_token().get(token) != simdjson::SUCCESS) return {};  // cannot fail once parsed
  return token;
}

// ---- Validation ---------------------------------------------------------------------
// On-demand parsing checks only what it visits, so a record is walked once in full
// before any column is read: afterwards "valid JSON" means what RFC 8259 says, and a
// value skipped by every pointer cannot hide a syntax error.

inline Failure validate_value(od::value value, int depth);

inline Failure validate_object(od::object& object, int depth) {
  for (auto field_result : object) {
    od::field field;
    if (const auto error = std::move(field_result).get(field)) return invalid_json(error);
    std::string_view key;
    if (const auto error = field.unescaped_key().get(key)) return invalid_json(error);
    if (Failure failure = validate_value(field.value(), depth + 1)) return failure;
  }
  return std::nullopt;
}

inline Failure validate_array(od::array& array, int depth) {
  for (auto element_result : array) {
    od::value element;
    if (const auto error = std::move(element_result).get(element)) return invalid_json(error);
    if (Failure failure = validate_value(element, depth + 1)) return failure;
  }
  return std::nullopt;
}

/// true, false or null misspelt ("tru", "nul"): simdjson only says the element "does
/// not have the requested type".
inline ValueError malformed_literal(std::string_view token) {
  const std::string shown = quoted_excerpt(trim_json_whitespace(token));
  return fail(DecodeFailure::InvalidJson, "invalid JSON: malformed literal " + shown);
}

inline Failure validate_number_token(std::string_view written) {
  const std::string_view token = trim_json_whitespace(written);
  if (is_json_number(token)) return std::nullopt;
  return fail(DecodeFailure::InvalidJson, "invalid JSON: malformed number " + quoted_excerpt(token));
}

inline Failure validate_value(od::value value, int depth) {
  od::json_type type;
  if (const auto error = value.type().get(type)) return invalid_json(error);
  const bool container = type == od::json_type::object || type == od::json_type::array;
  // Checked before descending: starting a container past the limit is what overflows.
  if (container && depth > kMaxJsonDepth) return invalid_json("nested deeper than 1024 levels");
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (const auto error = value.get_object().get(object)) return invalid_json(error);
      return validate_object(object, depth);
    }
    case od::json_type::array: {
      od::array array;
      if (const auto error = value.get_array().get(array)) return invalid_json(error);
      return validate_array(array, depth);
    }
    case od::json_type::number:
      return validate_number_token(value.raw_json_token());
    case od::json_type::string: {
      std::string_view text;  // unescaping is what checks the escapes
      if (const auto error = value.get_string().get(text)) return invalid_json(error);
      return std::nullopt;
    }
    case od::json_type::boolean: {
      bool flag = false;
      if (value.get_bool().get(flag) != simdjson::SUCCESS) return malformed_literal(value.raw_json_token());
      return std::nullopt;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
        return malformed_literal(value.raw_json_token());
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

/// Validates a whole document, `input` being its text, and leaves it rewound.
inline Failure validate_document(od::document& document, std::string_view input) {
  od::json_type type;
  if (const auto error = document.type().get(type)) return invalid_json(error);
  Failure failure;
  bool consumed = true;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (const auto error = document.get_object().get(object)) return invalid_json(error);
      failure = validate_object(object, 1);
      break;
    }
    case od::json_type::array: {
      od::array array;
      if (const auto error = document.get_array().get(array)) return invalid_json(error);
      failure = validate_array(array, 1);
      break;
    }
    case od::json_type::number: {
      std::string_view token;
      if (const auto error = document.raw_json_token().get(token)) return invalid_json(error);
      failure = validate_number_token(token);
      // The token is not consumed; it is the whole document when nothing follows it.
      consumed = false;
      if (!failure && trim_json_whitespace(input).size() != trim_json_whitespace(token).size()) {
        failure = invalid_json("unexpected content after the top-level value");
      }
      break;
    }
    case od::json_type::string: {
      std::string_view text;
      if (const auto error = document.get_string().get(text)) return invalid_json(error);
      break;
    }
    case od::json_type::boolean: {
      bool flag = false;
      if (document.get_bool().get(flag) != simdjson::SUCCESS) return malformed_literal(raw_token(document));
      break;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (document.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
        return malformed_literal(raw_token(document));
      }
      break;
    }
  }
  if (failure) return failure;
  // Past the end of the top-level value, only the end of the input may follow.
  if (consumed && document.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return invalid_json("unexpected content after the top-level value");
  }
  document.rewind();
  return std::nullopt;
}


inline simdjson::simdjson_result<std::string_view> raw_container_json(od::value& value, od::json_type type) {
  if (type == od::json_type::object) {
    od::object object;
    SIMDJSON_TRY(value.get_object().get(object));
    return object.raw_json();
  }
  od::array array;
  SIMDJSON_TRY(value.get_array().get(array));
  return array.raw_json();
}
inline simdjson::simdjson_result<std::string_view> raw_container_json(od::document& document, od::json_type) {
  return document.raw_json();
}

// ---- One pass -------------------------------------------------------------------
// A record is walked once: every value is validated as validate_document does, and each
// value on a wanted path is kept (as views) for the columns and dedup fields that read
// it. The columns are then encoded in their own order from what was kept.

/// A wanted value as the walk met it. Views into the parser's input copy and string
/// buffer: valid until the next record is parsed.
struct FoundValue {
  od::json_type type = od::json_type::null;
  std::string_view raw;   // as written: a scalar's token (trailing whitespace included), a container's text
  std::string_view text;  // a string's unescaped content
  bool boolean = false;

  // The calls ValueConverter::from_json makes on a simdjson value.
  simdjson::simdjson_result<std::string_view> get_string() const { return std::string_view(text); }
  simdjson::simdjson_result<bool> get_bool() const { return bool(boolean); }
};
inline std::string_view raw_token(FoundValue& value) { return value.raw; }
inline simdjson::simdjson_result<std::string_view> raw_container_json(FoundValue& value, od::json_type) {
  return std::string_view(value.raw);
}

enum class Absence { Missing, Null };

/// NULL for a nullable column; for any other column, the reason it is a bad record.
inline Failure append_absent(const ColumnConfig& column, Absence absence, CopyBuffer& out) {
  if (column.nullable) {
    out.append_null();
    return std::nullopt;
  }
  return fail(DecodeFailure::MissingValue,
              absence == Absence::Missing ? "missing non-nullable value" : "null in non-nullable column");
}

inline const RecordHeader* find_header(const RecordView& record, std::string_view name) {
  for (const RecordHeader& header : record.headers) {
    if (header.name == name) return &header;
  }
  return nullptr;
}

/// Says where a failing value came from ("@key: …").
inline Failure with_source(const char* source, Failure failure) {
  if (failure) failure->reason.insert(0, std::string(source) + ": ");
  return failure;
}

inline Failure with_source_header(const std::string& name, Failure failure) {
  if (failure) failure->reason.insert(0, "@header:" + name + ": ");
  return failure;
}

/// Turns JSON values and text forms into binary COPY values. Owns the scratch space
/// those conversions need, so that none of them allocates once warmed up.
class ValueConverter {
 public:
  /// `timestamp_unit` is how an integer is read as a timestamp (a JSON number, or the
  /// text form of one in a key or header).
  explicit ValueConverter(TimestampUnit timestamp_unit = TimestampUnit::Millis) : timestamp_unit_(timestamp_unit) {}

  /// `json` is a non-null JSON value of type `json_type`.
  template <typename Json>
  Failure from_json(ColumnType type, Json& json, od::json_type json_type, CopyBuffer& out) {
    switch (type) {
      case ColumnType::SmallInt:
      case ColumnType::Integer:
      case ColumnType::BigInt: {
        if (json_type != od::json_type::number) return expected("a JSON integer", json_type);
        const std::string_view token = trim_json_whitespace(raw_token(json));
        int64_t value = 0;
        switch (parse_int64(token, value)) {
          case IntegerParse::Ok: return append_integer(type, value, token, Written::JsonNumber, out);
          case IntegerParse::NotAnInteger:
            return fail(DecodeFailure::InvalidValue, number_excerpt(token) + " is not an integer");
          case IntegerParse::OutOfRange:
            return fail(DecodeFailure::OutOfRange, number_excerpt(token) + " is out of range for " + type_name(type));
        }
        return std::nullopt;
      }
      case ColumnType::Real:
      case ColumnType::Double: {
        if (json_type != od::json_type::number) return expected("a JSON number", json_type);
        const std::string_view token = trim_json_whitespace(raw_token(json));
        return append_float(type, token, Written::JsonNumber, out);
      }
      case ColumnType::Numeric: {
        if (json_type == od::json_type::number) {
          const std::string_view token = trim_json_whitespace(raw_token(json));
          if (out.append_numeric(token)) return std::nullopt;
          DecimalText decimal;
          return fail(parse_decimal(token, decimal), number_excerpt(token));
        }
        if (json_type != od::json_type::string) {
          return expected("a JSON number or a string holding a decimal number", json_type);
        }
        std::string_view text;
        if (const auto error = json.get_string().get(text)) return invalid_json(error);
        return numeric_from_text(text, out);
      }
      case ColumnType::Boolean: {
        if (json_type != od::json_type::boolean) return expected("a JSON boolean", json_type);
        bool value = false;
        if (const auto error = json.get_bool().get(value)) return invalid_json(error);
        out.append_bool(value);
        return std::nullopt;
      }
      case ColumnType::Timestamp:
      case ColumnType::TimestampTz: {
        if (json_type == od::json_type::number) {
          const std::string_view token = trim_json_whitespace(raw_token(json));
          int64_t epoch_units = 0;
          switch (parse_int64(token, epoch_units)) {
            case IntegerParse::Ok: return append_epoch(epoch_units, timestamp_unit_, out);
            case IntegerParse::NotAnInteger:
              return fail(DecodeFailure::InvalidValue, number_excerpt(token) + " is not an integer number of epoch " +
                                                           unit_name(timestamp_unit_));
            case IntegerParse::OutOfRange:
              return fail(DecodeFailure::OutOfRange, number_excerpt(token) + " epoch " + unit_name(timestamp_unit_) +
                                                         " is out of PostgreSQL's timestamp range");
          }
          return std::nullopt;
        }
        if (json_type != od::json_type::string) {
          return expected((std::string("an ISO 8601 string or integer epoch ") + unit_name(timestamp_unit_)).c_str(),
                          json_type);
        }
        std::string_view text;
        if (const auto error = json.get_string().get(text)) return invalid_json(error);
        return timestamp_from_iso_text(type, text, out);
      }
      case ColumnType::Time: {
        if (json_type == od::json_type::number) {
          const std::string_view token = trim_json_whitespace(raw_token(json));
          int64_t micros = 0;
          switch (parse_int64(token, micros)) {
            case IntegerParse::Ok: return append_micros_of_day(micros, number_excerpt(token), out);
            case IntegerParse::NotAnInteger:
              return fail(DecodeFailure::InvalidValue,
                          number_excerpt(token) + " is not an integer number of microseconds of the day");
            case IntegerParse::OutOfRange: break;
          }
          return fail(DecodeFailure::OutOfRange, number_excerpt(token) + " is out of range for time");
        }
        if (json_type != od::json_type::string) {
          return expected("a string HH:MM[:SS[.ffffff]] or integer microseconds of the day", json_type);
        }
        std::string_view text;
        if (const auto error = json.get_string().get(text)) return invalid_json(error);
        return time_from_text(text, out);
      }
      case ColumnType::Json:
      case ColumnType::Jsonb: {
        std::string_view text;
        if (json_type == od::json_type::object || json_type == od::json_type::array) {
          if (const auto error = raw_container_json(json, json_type).get(text)) return invalid_json(error);
        } else {
          text = raw_token(json);
        }
        return append_json_text(type, trim_json_whitespace(text), out);
      }
      case ColumnType::Text:
      case ColumnType::Uuid:
      case ColumnType::Date:
      case ColumnType::Bytea: {
        if (json_type != od::json_type::string) return expected("a JSON string", json_type);
        std::string_view text;
        if (const auto error = json.get_string().get(text)) return invalid_json(error);
        switch (type) {
          case ColumnType::Text:
            // simdjson has checked the UTF-8; \u0000 unescapes to a NUL byte.
            if (contains_nul(text)) return fail(DecodeFailure::InvalidValue, "text must not contain NUL (\\u0000)");
            out.append_bytes(text);
            return std::nullopt;
          case ColumnType::Bytea: {
            scratch_.clear();
            if (const TextProblem problem = decode_base64(text, scratch_)) {
              return fail(problem, "invalid base64 " + quoted_excerpt(text));
            }
            out.append_bytes(scratch_);
            return std::nullopt;
          }
          default:
            return from_string_form(type, text, out);
        }
      }
    }
    return std::nullopt;
  }

  /// The text form of a value, as it comes in a record key or header: bytea takes the
  /// bytes as they are, json and jsonb require valid JSON, every other type parses
  /// the text the way PostgreSQL's input function would ("42" for bigint).
  Failure from_text_form(ColumnType type, std::string_view text, CopyBuffer& out) {
    switch (type) {
      case ColumnType::SmallInt:
      case ColumnType::Integer:
      case ColumnType::BigInt: {
        int64_t value = 0;
        switch (parse_int64(text, value)) {
          case IntegerParse::Ok: return append_integer(type, value, text, Written::TextForm, out);
          case IntegerParse::NotAnInteger:
            return fail(DecodeFailure::InvalidValue, "invalid " + type_name(type) + " " + quoted_excerpt(text));
          case IntegerParse::OutOfRange:
            return fail(DecodeFailure::OutOfRange, quoted_excerpt(text) + " is out of range for " + type_name(type));
        }
        return std::nullopt;
      }
      case ColumnType::Real:
      case ColumnType::Double: {
        return append_float(type, text, Written::TextForm, out);
      }
      case ColumnType::Numeric:
        return numeric_from_text(text, out);
      case ColumnType::Boolean: {
        bool value = false;
        if (!parse_bool_text(text, value)) {
          return fail(DecodeFailure::InvalidValue, "invalid boolean " + quoted_excerpt(text));
        }
        out.append_bool(value);
        return std::nullopt;
      }
      case ColumnType::Text:
        if (!simdjson::validate_utf8(text.data(), text.size())) {
          return fail(DecodeFailure::InvalidValue, "text is not valid UTF-8: " + quoted_excerpt(text));
        }
        if (contains_nul(text)) return fail(DecodeFailure::InvalidValue, "text must not contain NUL");
        out.append_bytes(text);
        return std::nullopt;
      case ColumnType::Timestamp:
      case ColumnType::TimestampTz: {
        int64_t epoch_units = 0;
        if (parse_int64(text, epoch_units) == IntegerParse::Ok) return append_epoch(epoch_units, timestamp_unit_, out);
        return timestamp_from_iso_text(type, text, out);
      }
      case ColumnType::Time: {
        int64_t micros = 0;
        if (parse_int64(text, micros) == IntegerParse::Ok) return append_micros_of_day(micros, quoted_excerpt(text), out);
        return time_from_text(text, out);
      }
      case ColumnType::Json:
      case ColumnType::Jsonb: {
        if (Failure failure = find_nul_byte(text)) return failure;
        od::document document;
        if (const auto error = metadata_reader_.read(text).get(document)) return invalid_json(error);
        if (Failure failure = validate_document(document, text)) return failure;
        return append_json_text(type, text, out);
      }
      case ColumnType::Bytea:
        out.append_bytes(text);
        return std::nullopt;
      case ColumnType::Uuid:
      case ColumnType::Date:
        return from_string_form(type, text, out);
    }
    return std::nullopt;
  }

  /// A record's partition or offset, or its timestamp as a number.
  Failure from_integer(ColumnType type, int64_t value, CopyBuffer& out) {
    char digits[24];
    const auto [end, error] = std::to_chars(std::begin(digits), std::end(digits), value);
    const std::string_view text(digits, static_cast<size_t>(end - digits));
    switch (type) {
      case ColumnType::SmallInt:
      case ColumnType::Integer:
      case ColumnType::BigInt:
        return append_integer(type, value, text, Written::JsonNumber, out);
      case ColumnType::Real:
        out.append_float32(static_cast<float>(value));
        return std::nullopt;
      case ColumnType::Double:
        out.append_float64(static_cast<double>(value));
        return std::nullopt;
      case ColumnType::Numeric:
        out.append_numeric(text);
        return std::nullopt;
      case ColumnType::Text:
        out.append_bytes(text);
        return std::nullopt;
      default:
        return fail(DecodeFailure::WrongType, "an integer cannot be stored as " + type_name(type));
    }
  }

  /// A column whose source is record metadata (@topic, @key, @header:NAME, ...).
  Failure from_metadata(const ColumnConfig& column, const RecordView& record, CopyBuffer& out) {
    switch (column.source.kind) {
      case ColumnSource::Kind::Topic:
        return with_source("@topic", from_text_form(column.type, record.topic, out));
      case ColumnSource::Kind::Partition:
        return with_source("@partition", from_integer(column.type, record.partition, out));
      case ColumnSource::Kind::Offset:
        return with_source("@offset", from_integer(column.type, record.offset, out));
      case ColumnSource::Kind::Timestamp:
        if (!record.timestamp_ms) return append_absent(column, Absence::Missing, out);
        if (column.type == ColumnType::Timestamp || column.type == ColumnType::TimestampTz) {
          return with_source("@timestamp", append_epoch_millis(*record.timestamp_ms, out));
        }
        return with_source("@timestamp", from_integer(column.type, *record.timestamp_ms, out));
      case ColumnSource::Kind::Key:
        if (!record.key) return append_absent(column, Absence::Null, out);
        return with_source("@key", from_text_form(column.type, *record.key, out));
      case ColumnSource::Kind::Header: {
        const RecordHeader* header = find_header(record, column.source.argument);
        if (header == nullptr) return append_absent(column, Absence::Missing, out);
        if (!header->value) return append_absent(column, Absence::Null, out);
        return with_source_header(column.source.argument,
                                  from_text_form(column.type, *header->value, out));
      }
      case ColumnSource::Kind::JsonPointer:
        break;
    }
    return fail(DecodeFailure::InvalidValue, "internal error: not a metadata source");
  }

  /// The record's own timestamp, which Kafka always gives in milliseconds.
  Failure append_epoch_millis(int64_t epoch_millis, CopyBuffer& out) {
    return append_epoch(epoch_millis, TimestampUnit::Millis, out);
  }

  Failure append_epoch(int64_t value, TimestampUnit unit, CopyBuffer& out) {
    int64_t micros = 0;
    if (const TextProblem problem = epoch_units_to_postgres_micros(value, units_per_second(unit), micros)) {
      return fail(failure_of(problem), std::to_string(value) + " epoch " + unit_name(unit) + " " + problem.what);
    }
    out.append_timestamp(micros);
    return std::nullopt;
  }

  static const char* unit_name(TimestampUnit unit) {
    switch (unit) {
      case TimestampUnit::Millis: return "milliseconds";
      case TimestampUnit::Micros: return "microseconds";
      case TimestampUnit::Nanos: return "nanoseconds";
    }
    return "milliseconds";
  }

  static int64_t units_per_second(TimestampUnit unit) {
    switch (unit) {
      case TimestampUnit::Millis: return 1000;
      case TimestampUnit::Micros: return 1000000;
      case TimestampUnit::Nanos: return 1000000000;
    }
    return 1000;
  }

  /// `shown` is how the error quotes the value.
  static Failure append_micros_of_day(int64_t micros, const std::string& shown, CopyBuffer& out) {
    if (micros < 0 || micros > kMicrosPerDay) {
      return fail(DecodeFailure::OutOfRange,
                  shown + " is out of range for time (0 to 86400000000 microseconds of the day)");
    }
    out.append_time(micros);
    return std::nullopt;
  }

  static Failure time_from_text(std::string_view text, CopyBuffer& out) {
    int64_t micros = 0;
    if (const TextProblem problem = parse_time(text, micros)) {
      return fail(problem, "invalid time " + quoted_excerpt(text));
    }
    out.append_time(micros);
    return std::nullopt;
  }

  /// Unix epoch days (Debezium's and Kafka Connect's Date) as a date.
  static Failure append_epoch_days(int64_t epoch_days, CopyBuffer& out) {
    // PostgreSQL's date range: 4714-11-24 BC up to, not including, 5874898-01-01.
    constexpr int64_t kMinPostgresDays = -2451545;
    constexpr int64_t kEndPostgresDays = 2147483494;
    constexpr int64_t kEpochDaysAt2000 = 10957;
    const int64_t days = epoch_days - kEpochDaysAt2000;
    if (epoch_days < INT32_MIN || epoch_days > INT32_MAX || days < kMinPostgresDays || days >= kEndPostgresDays) {
      return fail(DecodeFailure::OutOfRange, std::to_string(epoch_days) + " epoch days is out of PostgreSQL's date range");
    }
    out.append_date(static_cast<int32_t>(days));
    return std::nullopt;
  }

  /// Where a number's text came from, which decides how an error quotes it.
  enum class Written { JsonNumber, TextForm };

  static Failure append_integer(ColumnType type, int64_t value, std::string_view text, Written written,
                                CopyBuffer& out) {
    switch (type) {
      case ColumnType::SmallInt:
        if (value < INT16_MIN || value > INT16_MAX) break;
        out.append_int16(static_cast<int16_t>(value));
        return std::nullopt;
      case ColumnType::Integer:
        if (value < INT32_MIN || value > INT32_MAX) break;
        out.append_int32(static_cast<int32_t>(value));
        return std::nullopt;
      default:
        out.append_int64(value);
        return std::nullopt;
    }
    const std::string shown = written == Written::JsonNumber ? number_excerpt(text) : quoted_excerpt(text);
    return fail(DecodeFailure::OutOfRange, shown + " is out of range for " + type_name(type));
  }

  /// Refuses values beyond the type's range, overflow and underflow alike, as
  /// PostgreSQL's float input does.
  static Failure append_float(ColumnType type, std::string_view text, Written written, CopyBuffer& out) {
    FloatParse parse = FloatParse::NotANumber;
    if (type == ColumnType::Real) {
      float value = 0;
      parse = parse_float(text, value);
      if (parse == FloatParse::Ok) out.append_float32(value);
    } else {
      double value = 0;
      parse = parse_double(text, value);
      if (parse == FloatParse::Ok) out.append_float64(value);
    }
    if (parse == FloatParse::Ok) return std::nullopt;
    const std::string shown = written == Written::JsonNumber ? number_excerpt(text) : quoted_excerpt(text);
    if (parse == FloatParse::OutOfRange) {
      return fail(DecodeFailure::OutOfRange, shown + " is out of range for " + type_name(type));
    }
    return fail(DecodeFailure::InvalidValue,
                "invalid " + type_name(type) + " " + shown + ": not a finite decimal number");
  }

  static Failure numeric_from_text(std::string_view text, CopyBuffer& out) {
    if (out.append_numeric(text)) return std::nullopt;
    DecimalText decimal;
    return fail(parse_decimal(text, decimal), "invalid numeric " + quoted_excerpt(text));
  }

  static Failure timestamp_from_iso_text(ColumnType type, std::string_view text, CopyBuffer& out) {
    TimestampText timestamp;
    if (const TextProblem problem = parse_timestamp(text, timestamp)) {
      return fail(problem, "invalid " + type_name(type) + " " + quoted_excerpt(text));
    }
    int64_t micros = timestamp.local_micros;
    if (timestamp.offset_seconds) {
      if (type == ColumnType::Timestamp) {
        return fail(DecodeFailure::InvalidValue,
                    "timestamp without time zone must not carry an offset: " + quoted_excerpt(text));
      }
      micros -= int64_t{*timestamp.offset_seconds} * 1000000;
    }
    out.append_timestamp(micros);
    return std::nullopt;
  }

  /// uuid and date from their string forms.
  static Failure from_string_form(ColumnType type, std::string_view text, CopyBuffer& out) {
    if (type == ColumnType::Uuid) {
      std::array<uint8_t, 16> uuid{};
      if (!parse_uuid(text, uuid)) return fail(DecodeFailure::InvalidValue, "invalid uuid " + quoted_excerpt(text));
      out.append_uuid(uuid);
      return std::nullopt;
    }
    int32_t days = 0;
    if (const TextProblem problem = parse_date(text, days)) {
      return fail(problem, "invalid date " + quoted_excerpt(text));
    }
    out.append_date(days);
    return std::nullopt;
  }

  /// `text` is valid JSON.
  static Failure append_json_text(ColumnType type, std::string_view text, CopyBuffer& out) {
    if (type == ColumnType::Json) {
      out.append_bytes(text);
      return std::nullopt;
    }
    if (const TextProblem problem = check_jsonb_text(text)) return fail(failure_of(problem), problem.what);
    out.append_jsonb(text);
    return std::nullopt;
  }

 private:
  TimestampUnit timestamp_unit_;
  JsonReader metadata_reader_;  // keys and headers typed json/jsonb, never the record itself
  std::string scratch_;  // decoded base64
};

}  // namespace kps::codec
