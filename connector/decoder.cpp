#include "connector/decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include "connector/value_text.h"
#include "connector/wanted_paths.h"

namespace kps {
namespace {

namespace od = simdjson::ondemand;

/// Why a value could not be converted: the reason and its metric label.
struct ValueError {
  DecodeFailure failure;
  std::string reason;
};

/// nullopt on success. Reasons are built only on the error path, so the happy path
/// allocates nothing.
using Failure = std::optional<ValueError>;

ValueError fail(DecodeFailure failure, std::string reason) { return ValueError{failure, std::move(reason)}; }

/// Malformed text is an invalid value.
DecodeFailure failure_of(TextProblem problem) {
  switch (problem.kind) {
    case TextProblem::Kind::Malformed: return DecodeFailure::InvalidValue;
    case TextProblem::Kind::OutOfRange: return DecodeFailure::OutOfRange;
  }
  return DecodeFailure::InvalidValue;
}

/// `subject` followed by what is wrong with it: "invalid date \"2024-13-01\": month is
/// out of range".
ValueError fail(TextProblem problem, std::string subject) {
  return ValueError{failure_of(problem), std::move(subject) + ": " + problem.what};
}

/// The parser's default depth limit; the validating walk enforces it itself because
/// on-demand only meets a too-deep document while descending into it.
constexpr int kMaxJsonDepth = 1024;

/// Error paths only: the config spelling ("double", "timestamptz") users wrote.
std::string type_name(ColumnType type) { return std::string(column_type_name(type)); }

const char* json_type_name(od::json_type type) {
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

ValueError invalid_json(simdjson::error_code error) {
  return fail(DecodeFailure::InvalidJson, std::string("invalid JSON: ") + simdjson::error_message(error));
}

ValueError invalid_json(const char* what) {
  return fail(DecodeFailure::InvalidJson, std::string("invalid JSON: ") + what);
}

ValueError expected(const char* what, od::json_type got) {
  return fail(DecodeFailure::WrongType, std::string("expected ") + what + ", got " + json_type_name(got));
}

/// A JSON number token for a message: numbers are ASCII, only their length needs a cap.
std::string number_excerpt(std::string_view token) {
  constexpr size_t kMaxExcerptBytes = 64;
  if (token.size() <= kMaxExcerptBytes) return std::string(token);
  return std::string(token.substr(0, kMaxExcerptBytes)) + "...";
}

bool contains_nul(std::string_view text) { return std::memchr(text.data(), '\0', text.size()) != nullptr; }

/// A NUL byte is never valid JSON text (a string must write it \u0000), but simdjson
/// reports it as whatever structure it happens to break ("document ended early"), so
/// it is looked for first and named plainly: C producers that send the terminator do this.
Failure find_nul_byte(std::string_view input) {
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
std::string_view raw_token(od::value& value) { return value.raw_json_token(); }
std::string_view raw_token(od::document& document) {
  std::string_view token;
  if (document.raw_json_token().get(token) != simdjson::SUCCESS) return {};  // cannot fail once parsed
  return token;
}

// ---- Validation ---------------------------------------------------------------------
// On-demand parsing checks only what it visits, so a record is walked once in full
// before any column is read: afterwards "valid JSON" means what RFC 8259 says, and a
// value skipped by every pointer cannot hide a syntax error.

Failure validate_value(od::value value, int depth);

Failure validate_object(od::object& object, int depth) {
  for (auto field_result : object) {
    od::field field;
    if (const auto error = std::move(field_result).get(field)) return invalid_json(error);
    std::string_view key;
    if (const auto error = field.unescaped_key().get(key)) return invalid_json(error);
    if (Failure failure = validate_value(field.value(), depth + 1)) return failure;
  }
  return std::nullopt;
}

Failure validate_array(od::array& array, int depth) {
  for (auto element_result : array) {
    od::value element;
    if (const auto error = std::move(element_result).get(element)) return invalid_json(error);
    if (Failure failure = validate_value(element, depth + 1)) return failure;
  }
  return std::nullopt;
}

/// true, false or null misspelt ("tru", "nul"): simdjson only says the element "does
/// not have the requested type".
ValueError malformed_literal(std::string_view token) {
  const std::string shown = quoted_excerpt(trim_json_whitespace(token));
  return fail(DecodeFailure::InvalidJson, "invalid JSON: malformed literal " + shown);
}

Failure validate_number_token(std::string_view written) {
  const std::string_view token = trim_json_whitespace(written);
  if (is_json_number(token)) return std::nullopt;
  return fail(DecodeFailure::InvalidJson, "invalid JSON: malformed number " + quoted_excerpt(token));
}

Failure validate_value(od::value value, int depth) {
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
Failure validate_document(od::document& document, std::string_view input) {
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

// ---- Lookup ---------------------------------------------------------------------

/// Finds the value `tokens` (non-empty) points at in a validated document whose root is
/// an object. `present` is false for an absent member, an index past the end, or a
/// path that runs into a scalar: all of them mean "no value here".
simdjson::error_code find_pointer(od::document& document, const std::vector<PointerToken>& tokens,
                                  od::value& found, bool& present) {
  present = false;
  document.rewind();
  od::object root;
  SIMDJSON_TRY(document.get_object().get(root));
  auto first = root.find_field(tokens[0].key);
  if (first.error() == simdjson::NO_SUCH_FIELD) return simdjson::SUCCESS;
  SIMDJSON_TRY(std::move(first).get(found));
  for (size_t i = 1; i < tokens.size(); ++i) {
    od::json_type type;
    SIMDJSON_TRY(found.type().get(type));
    od::value child;
    if (type == od::json_type::object) {
      auto member = found.find_field(tokens[i].key);
      if (member.error() == simdjson::NO_SUCH_FIELD) return simdjson::SUCCESS;
      SIMDJSON_TRY(std::move(member).get(child));
    } else if (type == od::json_type::array && tokens[i].array_index) {
      od::array array;
      SIMDJSON_TRY(found.get_array().get(array));
      auto element = array.at(*tokens[i].array_index);
      if (element.error() == simdjson::INDEX_OUT_OF_BOUNDS) return simdjson::SUCCESS;
      SIMDJSON_TRY(std::move(element).get(child));
    } else {
      return simdjson::SUCCESS;
    }
    found = child;
  }
  present = true;
  return simdjson::SUCCESS;
}

simdjson::simdjson_result<std::string_view> raw_container_json(od::value& value, od::json_type type) {
  if (type == od::json_type::object) {
    od::object object;
    SIMDJSON_TRY(value.get_object().get(object));
    return object.raw_json();
  }
  od::array array;
  SIMDJSON_TRY(value.get_array().get(array));
  return array.raw_json();
}
simdjson::simdjson_result<std::string_view> raw_container_json(od::document& document, od::json_type) {
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
std::string_view raw_token(FoundValue& value) { return value.raw; }
simdjson::simdjson_result<std::string_view> raw_container_json(FoundValue& value, od::json_type) {
  return std::string_view(value.raw);
}

enum class Absence { Missing, Null };

/// NULL for a nullable column; for any other column, the reason it is a bad record.
Failure append_absent(const ColumnConfig& column, Absence absence, CopyBuffer& out) {
  if (column.nullable) {
    out.append_null();
    return std::nullopt;
  }
  return fail(DecodeFailure::MissingValue,
              absence == Absence::Missing ? "missing non-nullable value" : "null in non-nullable column");
}

/// Turns JSON values and text forms into binary COPY values. Owns the scratch space
/// those conversions need, so that none of them allocates once warmed up.
class ValueConverter {
 public:
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
          int64_t epoch_millis = 0;
          switch (parse_int64(token, epoch_millis)) {
            case IntegerParse::Ok: return append_epoch_millis(epoch_millis, out);
            case IntegerParse::NotAnInteger:
              return fail(DecodeFailure::InvalidValue,
                          number_excerpt(token) + " is not an integer number of epoch milliseconds");
            case IntegerParse::OutOfRange:
              return fail(DecodeFailure::OutOfRange,
                          number_excerpt(token) + " epoch milliseconds is out of PostgreSQL's timestamp range");
          }
          return std::nullopt;
        }
        if (json_type != od::json_type::string) {
          return expected("an ISO 8601 string or integer epoch milliseconds", json_type);
        }
        std::string_view text;
        if (const auto error = json.get_string().get(text)) return invalid_json(error);
        return timestamp_from_iso_text(type, text, out);
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
        int64_t epoch_millis = 0;
        if (parse_int64(text, epoch_millis) == IntegerParse::Ok) return append_epoch_millis(epoch_millis, out);
        return timestamp_from_iso_text(type, text, out);
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

  Failure append_epoch_millis(int64_t epoch_millis, CopyBuffer& out) {
    int64_t micros = 0;
    if (const TextProblem problem = epoch_millis_to_postgres_micros(epoch_millis, micros)) {
      return fail(failure_of(problem), std::to_string(epoch_millis) + " epoch milliseconds " + problem.what);
    }
    out.append_timestamp(micros);
    return std::nullopt;
  }

 private:
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

  JsonReader metadata_reader_;  // keys and headers typed json/jsonb, never the record itself
  std::string scratch_;  // decoded base64
};

const RecordHeader* find_header(const RecordView& record, std::string_view name) {
  for (const RecordHeader& header : record.headers) {
    if (header.name == name) return &header;
  }
  return nullptr;
}

}  // namespace

struct Decoder::State {
  explicit State(const SinkConfig& sink) : sink_(sink) {
    pointers_.reserve(sink_.columns.size());
    column_name_pointers_.resize(sink_.columns.size());
    for (const ColumnConfig& column : sink_.columns) {
      pointers_.push_back(column.source.kind == ColumnSource::Kind::JsonPointer
                             ? parse_json_pointer(column.source.argument)
                             : std::vector<PointerToken>{});
    }
    is_primary_key_.assign(sink_.columns.size(), false);
    for (const size_t index : sink_.primary_key_columns) {
      if (index >= sink_.columns.size()) throw std::invalid_argument("primary-key column index out of range");
      is_primary_key_[index] = true;
      const ColumnConfig& column = sink_.columns[index];
      column_name_pointers_[index] = {PointerToken{column.name, std::nullopt}};
      if (column.source.kind == ColumnSource::Kind::JsonPointer) tombstone_needs_key_document_ = true;
    }
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      if (sink_.columns[index].source.kind == ColumnSource::Kind::JsonPointer) {
        paths_.add(pointers_[index], static_cast<uint32_t>(index));
      }
    }
    if (sink_.dedup) {
      for (const std::string& field : sink_.dedup->fields) {
        paths_.add(parse_json_pointer(field), static_cast<uint32_t>(sink_.columns.size() + dedup_field_count_));
        ++dedup_field_count_;
      }
    }
    const size_t slots = sink_.columns.size() + dedup_field_count_;
    found_.resize(slots);
    present_.resize(slots);
    visit_stamps_.resize(paths_.node_count());
  }

  std::optional<DecodeError> decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
    if (!record.value) {
      return DecodeError{"", "the record has no value (it is a tombstone)", DecodeFailure::Tombstone};
    }
    const std::string_view input = *record.value;
    if (Failure failure = find_nul_byte(input)) return record_error(std::move(*failure));
    od::document document;
    if (const auto error = document_reader_.read(input).get(document)) return record_error(invalid_json(error));
    od::json_type type;
    if (const auto error = document.type().get(type)) return record_error(invalid_json(error));
    if (type != od::json_type::object) {
      // Validated before its type is judged: "[1, 2" or "nul" is broken JSON, not an array
      // or a null.
      if (Failure failure = validate_document(document, input)) return record_error(std::move(*failure));
      return DecodeError{"", std::string("value is not a JSON object (it is a JSON ") + json_type_name(type) + ")",
                         DecodeFailure::NotAnObject};
    }
    if (Failure failure = walk_document(document, input)) return record_error(std::move(*failure));

    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(sink_.columns.size()));
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      const ColumnConfig& column = sink_.columns[index];
      Failure failure = column.source.kind == ColumnSource::Kind::JsonPointer ? encode_found(column, index, out)
                                                                              : encode_from_metadata(column, record, out);
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), failure->failure};
      }
    }
    if (identity != nullptr) read_identity(*identity);
    return std::nullopt;
  }

  /// Walks a record whose root is an object once, start to end: validates it and keeps
  /// every wanted value in found_ / present_.
  Failure walk_document(od::document& document, std::string_view input) {
    std::fill(present_.begin(), present_.end(), uint8_t{0});
    ignored_.clear();
    if (++walk_stamp_ == 0) {  // wrapped: stamps of long ago could look current
      std::fill(visit_stamps_.begin(), visit_stamps_.end(), 0u);
      walk_stamp_ = 1;
    }
    document_ = &document;
    record_end_ = document_reader_.data() + input.size();
    od::object root;
    if (const auto error = document.get_object().get(root)) return invalid_json(error);
    if (Failure failure = walk_object(root, 1, paths_.root())) return failure;
    // Past the end of the top-level value, only the end of the input may follow.
    if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      return invalid_json("unexpected content after the top-level value");
    }
    FoundValue whole{od::json_type::object, std::string_view(document_reader_.data(), input.size()), {}, false};
    keep(paths_.root(), whole);  // an empty pointer: the whole record
    return std::nullopt;
  }

  /// validate_object, handing members on a wanted path to walk_value. A member name
  /// matches a pointer token as written in the record, escapes and all, and the first of
  /// two members of one name is the one read: what a simdjson find_field lookup does.
  Failure walk_object(od::object& object, int depth, const WantedPaths::Node& node) {
    for (auto field_result : object) {
      od::field field;
      if (const auto error = std::move(field_result).get(field)) return invalid_json(error);
      const WantedPaths::Child* wanted = nullptr;
      for (const WantedPaths::Child& child : node.children) {
        if (field.key().unsafe_is_equal(child.token.key)) {
          if (visit_stamps_[child.node] != walk_stamp_) wanted = &child;
          break;
        }
      }
      std::string_view key;  // unescaping is what checks the escapes
      if (const auto error = field.unescaped_key().get(key)) return invalid_json(error);
      Failure failure;
      if (wanted != nullptr) {
        visit_stamps_[wanted->node] = walk_stamp_;
        failure = walk_value(field.value(), depth + 1, paths_.node(wanted->node));
      } else {
        // Columns by name take top-level members only: any other one is ignored, and counted.
        if (count_ignored_ && depth == 1) ignored_.push_back(key);
        failure = validate_value(field.value(), depth + 1);
      }
      if (failure) return failure;
    }
    return std::nullopt;
  }

  /// validate_array, handing elements a pointer indexes to walk_value.
  Failure walk_array(od::array& array, int depth, const WantedPaths::Node& node) {
    size_t index = 0;
    for (auto element_result : array) {
      od::value element;
      if (const auto error = std::move(element_result).get(element)) return invalid_json(error);
      const WantedPaths::Child* wanted = nullptr;
      for (const WantedPaths::Child& child : node.children) {
        if (child.token.array_index == index) {
          wanted = &child;
          break;
        }
      }
      ++index;
      Failure failure = wanted != nullptr ? walk_value(element, depth + 1, paths_.node(wanted->node))
                                          : validate_value(element, depth + 1);
      if (failure) return failure;
    }
    return std::nullopt;
  }

  /// validate_value for a value on a wanted path: keeps it for the slots ending here and
  /// descends into the members and elements that lie on longer paths.
  Failure walk_value(od::value value, int depth, const WantedPaths::Node& node) {
    FoundValue found;
    if (const auto error = value.type().get(found.type)) return invalid_json(error);
    const bool container = found.type == od::json_type::object || found.type == od::json_type::array;
    if (container && depth > kMaxJsonDepth) return invalid_json("nested deeper than 1024 levels");
    found.raw = value.raw_json_token();
    switch (found.type) {
      case od::json_type::object: {
        const char* start = found.raw.data();
        od::object object;
        if (const auto error = value.get_object().get(object)) return invalid_json(error);
        if (Failure failure = walk_object(object, depth, node)) return failure;
        if (!node.slots.empty()) found.raw = container_text(start);
        break;
      }
      case od::json_type::array: {
        const char* start = found.raw.data();
        od::array array;
        if (const auto error = value.get_array().get(array)) return invalid_json(error);
        if (Failure failure = walk_array(array, depth, node)) return failure;
        if (!node.slots.empty()) found.raw = container_text(start);
        break;
      }
      case od::json_type::number:
        if (Failure failure = validate_number_token(found.raw)) return failure;
        break;
      case od::json_type::string:  // unescaping is what checks the escapes
        if (const auto error = value.get_string().get(found.text)) return invalid_json(error);
        break;
      case od::json_type::boolean:
        if (value.get_bool().get(found.boolean) != simdjson::SUCCESS) return malformed_literal(found.raw);
        break;
      case od::json_type::null: {
        bool is_null = false;
        if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return malformed_literal(found.raw);
        break;
      }
    }
    keep(node, found);
    return std::nullopt;
  }

  /// The text of the container starting at `start` that the walk has just left: up to
  /// its closing bracket, which is the last one before the walk's next token.
  std::string_view container_text(const char* start) const {
    const char* end = record_end_;
    const char* next = nullptr;
    if (document_->current_location().get(next) == simdjson::SUCCESS) end = next;
    while (end > start && end[-1] != '}' && end[-1] != ']') --end;
    return std::string_view(start, static_cast<size_t>(end - start));
  }

  void keep(const WantedPaths::Node& node, const FoundValue& found) {
    for (const uint32_t slot : node.slots) {
      found_[slot] = found;
      present_[slot] = 1;
    }
  }

  Failure encode_found(const ColumnConfig& column, size_t slot, CopyBuffer& out) {
    if (!present_[slot]) return append_absent(column, Absence::Missing, out);
    FoundValue& value = found_[slot];
    if (value.type == od::json_type::null) return append_absent(column, Absence::Null, out);
    return converter_.from_json(column.type, value, value.type, out);
  }

  /// Each dedup field's JSON value in a canonical form, length-prefixed: a number as
  /// the canonical text of its exact value, a string as its unescaped content in
  /// quotes, true/false as written, an object or array as its JSON text as written.
  /// Empty when a field is missing or null (such a record cannot be told apart from
  /// others, so it is never dropped). Numbers written in their canonical form (42, 0.5)
  /// and strings without escapes keep the bytes earlier versions stored, so identities
  /// already in the store still match.
  void read_identity(std::string& identity) {
    identity.clear();
    for (size_t field = 0; field < dedup_field_count_; ++field) {
      const size_t slot = sink_.columns.size() + field;
      const FoundValue& found = found_[slot];
      if (!present_[slot] || found.type == od::json_type::null) {
        identity.clear();
        return;
      }
      std::string_view raw = found.raw;
      if (found.type == od::json_type::string) {
        // By content: "\u0041" and "A" are one string. The quotes keep a string apart
        // from a number or literal of the same characters ("1" is not 1).
        identity_scratch_.assign(1, '"');
        identity_scratch_.append(found.text);
        identity_scratch_ += '"';
        raw = identity_scratch_;
      } else if (found.type == od::json_type::number) {
        // By exact decimal value: 1, 1.0 and 1e0 are one identity. A number beyond
        // numeric's limits keeps its text as written.
        raw = trim_json_whitespace(raw);
        identity_scratch_.clear();
        if (canonical_decimal_text(raw, identity_scratch_)) raw = identity_scratch_;
      }
      raw = trim_json_whitespace(raw);
      const auto size = static_cast<uint32_t>(raw.size());
      identity.append(reinterpret_cast<const char*>(&size), sizeof size);
      identity.append(raw);
    }
  }

  std::optional<DecodeError> decode_tombstone_key(const RecordView& record, CopyBuffer& out) {
    if (!record.key) return DecodeError{"", "tombstone without a key", DecodeFailure::InvalidKey};
    const std::string_view key = *record.key;

    enum class KeyShape { Object, JsonScalar, Other };
    KeyShape shape = KeyShape::Other;
    od::document document;
    if (tombstone_needs_key_document_) {
      // A key that is not valid JSON is no error: it is the text form of a bare value.
      const bool parsed = document_reader_.read(key).get(document) == simdjson::SUCCESS &&
                          !validate_document(document, key).has_value();
      od::json_type type;
      if (parsed && document.type().get(type) == simdjson::SUCCESS) {
        if (type == od::json_type::object) {
          shape = KeyShape::Object;
        } else if (type != od::json_type::array) {
          shape = KeyShape::JsonScalar;
        }
      }
    }

    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(sink_.columns.size()));
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      const ColumnConfig& column = sink_.columns[index];
      Failure failure;
      if (!is_primary_key_[index]) {
        out.append_null();
      } else if (column.source.kind != ColumnSource::Kind::JsonPointer) {
        // Exactly what decode_value gave the row, so the tombstone names the same row.
        failure = encode_from_metadata(column, record, out);
      } else if (shape == KeyShape::Object) {
        failure = encode_from_key_object(column, index, document, out);
      } else if (sink_.primary_key_columns.size() != 1) {
        failure = fail(DecodeFailure::InvalidKey, "the tombstone's key is not a JSON object, so it cannot name the " +
                                                      std::to_string(sink_.primary_key_columns.size()) +
                                                      " columns of the primary key");
      } else {
        failure = encode_bare_key(column, key, shape == KeyShape::JsonScalar ? &document : nullptr, out);
      }
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), DecodeFailure::InvalidKey};
      }
    }
    return std::nullopt;
  }


  Failure encode_from_metadata(const ColumnConfig& column, const RecordView& record, CopyBuffer& out) {
    switch (column.source.kind) {
      case ColumnSource::Kind::Topic:
        return with_source("@topic", converter_.from_text_form(column.type, record.topic, out));
      case ColumnSource::Kind::Partition:
        return with_source("@partition", converter_.from_integer(column.type, record.partition, out));
      case ColumnSource::Kind::Offset:
        return with_source("@offset", converter_.from_integer(column.type, record.offset, out));
      case ColumnSource::Kind::Timestamp:
        if (!record.timestamp_ms) return append_absent(column, Absence::Missing, out);
        if (column.type == ColumnType::Timestamp || column.type == ColumnType::TimestampTz) {
          return with_source("@timestamp", converter_.append_epoch_millis(*record.timestamp_ms, out));
        }
        return with_source("@timestamp", converter_.from_integer(column.type, *record.timestamp_ms, out));
      case ColumnSource::Kind::Key:
        if (!record.key) return append_absent(column, Absence::Null, out);
        return with_source("@key", converter_.from_text_form(column.type, *record.key, out));
      case ColumnSource::Kind::Header: {
        const RecordHeader* header = find_header(record, column.source.argument);
        if (header == nullptr) return append_absent(column, Absence::Missing, out);
        if (!header->value) return append_absent(column, Absence::Null, out);
        return with_source_header(column.source.argument,
                                  converter_.from_text_form(column.type, *header->value, out));
      }
      case ColumnSource::Kind::JsonPointer:
        break;
    }
    return fail(DecodeFailure::InvalidValue, "internal error: not a metadata source");
  }

  /// The column named in the key object by its own name, or else by its value pointer.
  Failure encode_from_key_object(const ColumnConfig& column, size_t index, od::document& document,
                                 CopyBuffer& out) {
    od::value value;
    bool present = false;
    if (const auto error = find_pointer(document, column_name_pointers_[index], value, present)) {
      return invalid_json(error);
    }
    if (!present && !pointers_[index].empty()) {
      if (const auto error = find_pointer(document, pointers_[index], value, present)) return invalid_json(error);
    }
    if (!present) {
      return fail(DecodeFailure::InvalidKey, "the tombstone's key has no value for this primary-key column");
    }
    od::json_type type;
    if (const auto error = value.type().get(type)) return invalid_json(error);
    if (type == od::json_type::null) return append_absent(column, Absence::Null, out);
    return with_source("tombstone key", converter_.from_json(column.type, value, type, out));
  }

  /// A one-column key written as the bare value: a JSON scalar when it parses as one
  /// (42, "abc"), else the text form of the raw bytes (abc, a uuid without quotes).
  /// A scalar that does not convert as JSON (the number 42 for a text key, the string
  /// "42" for a bigint key) falls back to its text form too.
  Failure encode_bare_key(const ColumnConfig& column, std::string_view key, od::document* scalar_document,
                          CopyBuffer& out) {
    std::string_view text_form = key;
    if (scalar_document != nullptr) {
      od::document& document = *scalar_document;
      document.rewind();
      od::json_type type;
      if (const auto error = document.type().get(type)) return invalid_json(error);
      if (type != od::json_type::null) {
        const size_t before = out.size();
        const Failure as_json = converter_.from_json(column.type, document, type, out);
        if (!as_json) return std::nullopt;
        out.truncate(before);
      }
      document.rewind();
      if (type == od::json_type::string) {
        if (const auto error = document.get_string().get(text_form)) return invalid_json(error);
      } else {
        text_form = trim_json_whitespace(key);
      }
    }
    return with_source("tombstone key", converter_.from_text_form(column.type, text_form, out));
  }

  static DecodeError record_error(ValueError error) {
    return DecodeError{"", std::move(error.reason), error.failure};
  }

  static Failure with_source(const char* source, Failure failure) {
    if (failure) failure->reason.insert(0, std::string(source) + ": ");
    return failure;
  }

  static Failure with_source_header(const std::string& name, Failure failure) {
    if (failure) failure->reason.insert(0, "@header:" + name + ": ");
    return failure;
  }

  const SinkConfig& sink_;
  JsonReader document_reader_;  // the record value, or a tombstone's key
  ValueConverter converter_;
  std::vector<std::vector<PointerToken>> pointers_;              // per column; empty for metadata sources
  std::vector<std::vector<PointerToken>> column_name_pointers_;  // per primary-key column: its name
  std::vector<bool> is_primary_key_;
  bool tombstone_needs_key_document_ = false;
  WantedPaths paths_;  // every column's pointer, then every dedup field's, as slots
  size_t dedup_field_count_ = 0;
  // Per record, filled by the walk; sized once, so a record allocates nothing.
  std::vector<FoundValue> found_;        // per slot: the value its pointer reached
  std::vector<uint8_t> present_;         // per slot: whether it reached one
  const bool count_ignored_ = sink_.columns_by_name;
  std::vector<std::string_view> ignored_;  // of the last record: views into the parser's string buffer
  std::vector<uint32_t> visit_stamps_;   // per node: walk_stamp_ once a member reached it
  uint32_t walk_stamp_ = 0;
  od::document* document_ = nullptr;     // the record being walked
  const char* record_end_ = nullptr;     // the end of its text in the reader's copy
  std::string identity_scratch_;  // one canonical dedup field; reused, so no allocation per record
};

Decoder::Decoder(const SinkConfig& sink) : sink_(sink), state_(std::make_unique<State>(sink)) {}

Decoder::~Decoder() = default;

std::optional<DecodeError> Decoder::decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
  return state_->decode_value(record, out, identity);
}

std::span<const std::string_view> Decoder::ignored_fields() const { return state_->ignored_; }

std::optional<DecodeError> Decoder::decode_tombstone_key(const RecordView& record, CopyBuffer& out) {
  return state_->decode_tombstone_key(record, out);
}

#define KPS_STRINGIFY_TOKENS(tokens) #tokens
#define KPS_STRINGIFY(macro) KPS_STRINGIFY_TOKENS(macro)

const char* simdjson_version() { return KPS_STRINGIFY(SIMDJSON_VERSION); }

std::string simdjson_kernel() { return simdjson::get_active_implementation()->name(); }

const char* decode_failure_name(DecodeFailure failure) {
  switch (failure) {
    case DecodeFailure::InvalidJson: return "invalid_json";
    case DecodeFailure::NotAnObject: return "not_an_object";
    case DecodeFailure::MissingValue: return "missing_value";
    case DecodeFailure::WrongType: return "wrong_type";
    case DecodeFailure::OutOfRange: return "out_of_range";
    case DecodeFailure::InvalidValue: return "invalid_value";
    case DecodeFailure::Tombstone: return "unexpected_tombstone";
    case DecodeFailure::InvalidKey: return "invalid_key";
    case DecodeFailure::TooLarge: return "too_large";
  }
  return "invalid_value";
}

}  // namespace kps
