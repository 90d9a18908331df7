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

/// One reference token of an RFC 6901 pointer, unescaped once at start-up.
struct PointerToken {
  std::string key;                    // the member name to look up in an object
  std::optional<size_t> array_index;  // set when the token can also index an array
};

std::vector<PointerToken> parse_json_pointer(std::string_view pointer) {
  std::vector<PointerToken> tokens;
  if (pointer.empty()) return tokens;  // the whole document
  if (pointer[0] != '/') {
    throw std::invalid_argument("JSON pointer \"" + std::string(pointer) + "\" does not start with '/'");
  }
  size_t start = 1;
  while (true) {
    const size_t end = std::min(pointer.find('/', start), pointer.size());
    PointerToken token;
    for (size_t pos = start; pos < end; ++pos) {
      if (pointer[pos] != '~') {
        token.key += pointer[pos];
        continue;
      }
      const char escaped = pos + 1 < end ? pointer[pos + 1] : '\0';
      if (escaped != '0' && escaped != '1') {
        throw std::invalid_argument("JSON pointer \"" + std::string(pointer) + "\" has a '~' not followed by 0 or 1");
      }
      token.key += escaped == '0' ? '~' : '/';
      ++pos;
    }
    // RFC 6901 array indexes: "0" or digits without a leading zero.
    const std::string& key = token.key;
    const bool all_digits = std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!key.empty() && key.size() <= 18 && all_digits && (key.size() == 1 || key[0] != '0')) {
      token.array_index = std::stoull(key);
    }
    tokens.push_back(std::move(token));
    if (end == pointer.size()) break;
    start = end + 1;
  }
  return tokens;
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
    if (sink_.dedup) {
      for (const std::string& field : sink_.dedup->fields) dedup_pointers_.push_back(parse_json_pointer(field));
    }
  }

  std::optional<DecodeError> decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
    if (!record.value) {
      return DecodeError{"", "the record has no value (it is a tombstone)", DecodeFailure::Tombstone};
    }
    const std::string_view input = *record.value;
    if (Failure failure = find_nul_byte(input)) return record_error(std::move(*failure));
    od::document document;
    if (const auto error = document_reader_.read(input).get(document)) return record_error(invalid_json(error));
    // Validated before its type is judged: "[1, 2" or "nul" is broken JSON, not an array
    // or a null.
    if (Failure failure = validate_document(document, input)) return record_error(std::move(*failure));
    od::json_type type;
    if (const auto error = document.type().get(type)) return record_error(invalid_json(error));
    if (type != od::json_type::object) {
      return DecodeError{"", std::string("value is not a JSON object (it is a JSON ") + json_type_name(type) + ")",
                         DecodeFailure::NotAnObject};
    }

    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(sink_.columns.size()));
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      const ColumnConfig& column = sink_.columns[index];
      Failure failure = column.source.kind == ColumnSource::Kind::JsonPointer
                            ? encode_from_document(column, pointers_[index], document, out)
                            : encode_from_metadata(column, record, out);
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), failure->failure};
      }
    }
    if (identity != nullptr) read_identity(document, *identity);
    return std::nullopt;
  }

  /// Each dedup field's JSON value in a canonical form, length-prefixed: a number as
  /// the canonical text of its exact value, a string as its unescaped content in
  /// quotes, true/false as written, an object or array as its JSON text as written.
  /// Empty when a field is missing or null (such a record cannot be told apart from
  /// others, so it is never dropped). Numbers written in their canonical form (42, 0.5)
  /// and strings without escapes keep the bytes earlier versions stored, so identities
  /// already in the store still match.
  void read_identity(od::document& document, std::string& identity) {
    identity.clear();
    for (const auto& tokens : dedup_pointers_) {
      od::value found;
      bool present = false;
      od::json_type type;
      std::string_view raw;
      if (find_pointer(document, tokens, found, present) != simdjson::SUCCESS || !present ||
          found.type().get(type) != simdjson::SUCCESS || type == od::json_type::null) {
        identity.clear();
        return;
      }
      if (type == od::json_type::object || type == od::json_type::array) {
        if (raw_container_json(found, type).get(raw) != simdjson::SUCCESS) {
          identity.clear();
          return;
        }
      } else if (type == od::json_type::string) {
        // By content: "\u0041" and "A" are one string. The quotes keep a string apart
        // from a number or literal of the same characters ("1" is not 1).
        std::string_view text;
        if (found.get_string().get(text) != simdjson::SUCCESS) {
          identity.clear();
          return;
        }
        identity_scratch_.assign(1, '"');
        identity_scratch_.append(text);
        identity_scratch_ += '"';
        raw = identity_scratch_;
      } else {
        raw = trim_json_whitespace(raw_token(found));
        if (type == od::json_type::number) {
          // By exact decimal value: 1, 1.0 and 1e0 are one identity. A number beyond
          // numeric's limits keeps its text as written.
          identity_scratch_.clear();
          if (canonical_decimal_text(raw, identity_scratch_)) raw = identity_scratch_;
        }
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


  Failure encode_from_document(const ColumnConfig& column, const std::vector<PointerToken>& pointer,
                               od::document& document, CopyBuffer& out) {
    if (pointer.empty()) {  // the whole record, which is an object
      document.rewind();
      return converter_.from_json(column.type, document, od::json_type::object, out);
    }
    od::value value;
    bool present = false;
    if (const auto error = find_pointer(document, pointer, value, present)) return invalid_json(error);
    if (!present) return append_absent(column, Absence::Missing, out);
    od::json_type type;
    if (const auto error = value.type().get(type)) return invalid_json(error);
    if (type == od::json_type::null) return append_absent(column, Absence::Null, out);
    return converter_.from_json(column.type, value, type, out);
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
  std::vector<std::vector<PointerToken>> dedup_pointers_;  // per dedup field
  std::string identity_scratch_;  // one canonical dedup field; reused, so no allocation per record
};

Decoder::Decoder(const SinkConfig& sink) : sink_(sink), state_(std::make_unique<State>(sink)) {}

Decoder::~Decoder() = default;

std::optional<DecodeError> Decoder::decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
  return state_->decode_value(record, out, identity);
}

std::optional<DecodeError> Decoder::decode_tombstone_key(const RecordView& record, CopyBuffer& out) {
  return state_->decode_tombstone_key(record, out);
}

#define KPS_STRINGIFY_TOKENS(tokens) #tokens
#define KPS_STRINGIFY(macro) KPS_STRINGIFY_TOKENS(macro)

const char* simdjson_version() { return KPS_STRINGIFY(SIMDJSON_VERSION); }

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
