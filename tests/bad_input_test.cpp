// Every bad input issue 5 lists, against every column type it applies to: each must be
// a DecodeError naming the column (empty for the record as a whole), the reason code
// that becomes the bad-record metric label, and a reason that says what is wrong, with
// nothing appended to the batch's CopyBuffer. Next to the bad values stand the good
// values at each type's boundary, so the tables prove where the line is.
//
// Decisions these tables pin down (see DecodeFailure in connector/decoder.h):
// - integer columns take integer literals only, as PostgreSQL's integer input does:
//   1e2 and 100.0 are invalid_value, like 1.5;
// - a calendar field outside its range (2026-02-30, 24:00:01, month 13) is
//   invalid_value; out_of_range is a well-formed value the type cannot hold;
// - invalid UTF-8, lone surrogate escapes and raw control characters anywhere in a
//   record's value are invalid_json for the whole record, whatever the column type
//   (PostgreSQL's json and jsonb refuse lone surrogates too); in a key or header read
//   as text, invalid UTF-8 is that column's invalid_value;
// - \u0000 is refused by text and jsonb (PostgreSQL cannot store it) and kept by json,
//   which PostgreSQL stores as written;
// - every decode_tombstone_key error is invalid_key, the reason saying what is wrong.

#include <catch2/catch.hpp>

#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "connector/decoder.h"
#include "tests/test_support.h"

namespace Catch {
template <>
struct StringMaker<kps::DecodeFailure> {
  static std::string convert(kps::DecodeFailure failure) { return kps::decode_failure_name(failure); }
};
}  // namespace Catch

namespace kps {
namespace {

using kps::testing::column;
using kps::testing::hex;
using kps::testing::record_with;
using kps::testing::sink_with;

constexpr ColumnType kEveryType[] = {
    ColumnType::SmallInt, ColumnType::Integer, ColumnType::BigInt,   ColumnType::Real,  ColumnType::Double,
    ColumnType::Numeric,  ColumnType::Boolean, ColumnType::Text,     ColumnType::Uuid,  ColumnType::Date,
    ColumnType::Timestamp, ColumnType::TimestampTz, ColumnType::Json, ColumnType::Jsonb, ColumnType::Bytea,
    ColumnType::Time,
};

/// The sink every value table uses: an id that always decodes, then the column under
/// test, so a failing `v` has to undo a half-written tuple.
SinkConfig id_and_v(ColumnType type, bool nullable = false) {
  return sink_with({column("id", "/id", ColumnType::BigInt), column("v", "/v", type, nullable)});
}

/// A decode into a buffer that already holds an earlier tuple of the batch.
struct Outcome {
  std::optional<DecodeError> error;
  std::string appended;  // what the decode added after the earlier tuple

  /// Field `index` of the appended tuple as hex, "NULL" for NULL.
  std::string field_hex(int index) const {
    REQUIRE_FALSE(error.has_value());
    const auto field = tuple_field(appended, index);
    return field ? hex(*field) : "NULL";
  }
  std::string field_bytes(int index) const {
    REQUIRE_FALSE(error.has_value());
    const auto field = tuple_field(appended, index);
    REQUIRE(field.has_value());
    return std::string(*field);
  }
};

enum class Call { Value, TombstoneKey };

Outcome run(const SinkConfig& sink, const RecordView& record, Call call = Call::Value) {
  Decoder decoder(sink);
  CopyBuffer buffer;
  buffer.begin_tuple(1);
  buffer.append_int32(7);
  const std::string earlier(buffer.view());
  Outcome outcome;
  outcome.error =
      call == Call::Value ? decoder.decode_value(record, buffer) : decoder.decode_tombstone_key(record, buffer);
  REQUIRE(buffer.view().substr(0, earlier.size()) == earlier);
  outcome.appended = std::string(buffer.view().substr(earlier.size()));
  if (outcome.error) {
    INFO("a failed decode must append nothing");
    CHECK(outcome.appended.empty());
  }
  return outcome;
}

/// `{"id": 1, "v": <json>}`.
std::string record_v(std::string_view json) { return "{\"id\": 1, \"v\": " + std::string(json) + "}"; }

void check_error(const Outcome& outcome, std::string_view column, DecodeFailure failure, std::string_view reason) {
  REQUIRE(outcome.error.has_value());
  CHECK(outcome.error->column == column);
  CHECK(outcome.error->failure == failure);
  CHECK(outcome.error->reason == reason);
}

/// A bad value of column `v`.
struct BadValue {
  ColumnType type;
  std::string json;
  DecodeFailure failure;
  std::string reason;
};

void check_bad_values(const std::vector<BadValue>& cases) {
  for (const BadValue& bad : cases) {
    CAPTURE(column_type_name(bad.type), bad.json);
    check_error(run(id_and_v(bad.type), record_with(record_v(bad.json))), "v", bad.failure, bad.reason);
  }
}

/// A good value of column `v` and its binary COPY bytes as hex.
struct GoodValue {
  ColumnType type;
  std::string json;
  std::string bytes_hex;
};

void check_good_values(const std::vector<GoodValue>& cases) {
  for (const GoodValue& good : cases) {
    CAPTURE(column_type_name(good.type), good.json);
    const Outcome outcome = run(id_and_v(good.type), record_with(record_v(good.json)));
    if (outcome.error) {
      FAIL_CHECK("unexpected error: " << outcome.error->reason);
      continue;
    }
    CHECK(outcome.field_hex(1) == good.bytes_hex);
  }
}

/// A whole-record error: the same for every column type, since no column is read.
void check_record_error_for_every_type(std::string_view value, DecodeFailure failure, std::string_view reason) {
  for (const ColumnType type : kEveryType) {
    CAPTURE(column_type_name(type), value);
    check_error(run(id_and_v(type), record_with(value)), "", failure, reason);
  }
}

std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string nested_objects(size_t depth) {
  std::string json;
  for (size_t i = 0; i < depth; ++i) json += "{\"a\": ";
  json += "1";
  json += std::string(depth, '}');
  return json;
}

}  // namespace

TEST_CASE("every decode failure has its own low-cardinality metric label") {
  const std::pair<DecodeFailure, std::string_view> labels[] = {
      {DecodeFailure::InvalidJson, "invalid_json"},   {DecodeFailure::NotAnObject, "not_an_object"},
      {DecodeFailure::MissingValue, "missing_value"}, {DecodeFailure::WrongType, "wrong_type"},
      {DecodeFailure::OutOfRange, "out_of_range"},    {DecodeFailure::InvalidValue, "invalid_value"},
      {DecodeFailure::Tombstone, "unexpected_tombstone"}, {DecodeFailure::InvalidKey, "invalid_key"},
      {DecodeFailure::TooLarge, "too_large"},
  };
  std::set<std::string_view> distinct;
  for (const auto& [failure, label] : labels) {
    CHECK(decode_failure_name(failure) == label);
    distinct.insert(decode_failure_name(failure));
  }
  CHECK(distinct.size() == std::size(labels));
}

TEST_CASE("a value that is not valid JSON is invalid_json for the whole record, whatever the column type") {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "invalid JSON: Empty: no JSON found"},
      {R"({"id": 1, "v": )", "invalid JSON: JSON document ended early in the middle of an object or array."},
      {R"({"id": 1, "v": 1,})", "invalid JSON: The JSON document has an improper structure: missing or superfluous "
                                "commas, braces, missing keys, etc."},
      {R"({"id": 1 "v": 2})", "invalid JSON: The JSON document has an improper structure: missing or superfluous "
                              "commas, braces, missing keys, etc."},
      {R"({"id": 1, "v": 1} {"id": 2})", "invalid JSON: unexpected content after the top-level value"},
      {R"({"id": 1, "v": 12abc})", "invalid JSON: malformed number \"12abc\""},
      {R"({"id": 1, "v": nul})", "invalid JSON: malformed literal \"nul\""},
      {R"({"id": 1, "v": tru, "w": 1})", "invalid JSON: malformed literal \"tru\""},
      {R"({"id": 1, "v": nullx})", "invalid JSON: malformed literal \"nullx\""},
  };
  for (const auto& [value, reason] : cases) {
    check_record_error_for_every_type(value, DecodeFailure::InvalidJson, reason);
  }
}

TEST_CASE("broken JSON that opens like an array or a scalar is invalid_json, not not_an_object") {
  // The document is validated before its type is judged; it used to be "not a JSON
  // object (it is a JSON array)" for "[1, 2".
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"[1, 2", "invalid JSON: JSON document ended early in the middle of an object or array."},
      {"[1, 2]]", "invalid JSON: unexpected content after the top-level value"},
      {"nul", "invalid JSON: malformed literal \"nul\""},
      {"12abc", "invalid JSON: malformed number \"12abc\""},
      {"tru", "invalid JSON: malformed literal \"tru\""},
      {"\"abc", "invalid JSON: A string is opened, but never closed."},
  };
  for (const auto& [value, reason] : cases) {
    check_record_error_for_every_type(value, DecodeFailure::InvalidJson, reason);
  }
}

TEST_CASE("a value that is JSON but not an object is not_an_object") {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"[1, 2]", "value is not a JSON object (it is a JSON array)"},
      {"[]", "value is not a JSON object (it is a JSON array)"},
      {"\"text\"", "value is not a JSON object (it is a JSON string)"},
      {"42", "value is not a JSON object (it is a JSON number)"},
      {" -1.5e3 ", "value is not a JSON object (it is a JSON number)"},
      {"null", "value is not a JSON object (it is a JSON null)"},
      {"true", "value is not a JSON object (it is a JSON boolean)"},
      {"false", "value is not a JSON object (it is a JSON boolean)"},
  };
  for (const auto& [value, reason] : cases) {
    check_record_error_for_every_type(value, DecodeFailure::NotAnObject, reason);
  }
}

TEST_CASE("a record without a value handed to decode_value is an unexpected tombstone") {
  check_error(run(id_and_v(ColumnType::Text), record_with(std::nullopt)), "", DecodeFailure::Tombstone,
              "the record has no value (it is a tombstone)");
}

TEST_CASE("invalid UTF-8 anywhere in the value is invalid_json, whatever the column type") {
  constexpr std::string_view kNotUtf8 = "invalid JSON: The input is not valid UTF-8";
  const std::string_view cases[] = {
      "\"\xc0\xaf\"",          // overlong encoding of '/'
      "\"\xe0\x80\xaf\"",      // overlong, three bytes
      "\"a\x80z\"",            // lone continuation byte
      "\"\xed\xa0\x80\"",      // a UTF-16 surrogate encoded as UTF-8 (CESU-8)
      "\"\xf4\x90\x80\x80\"",  // beyond U+10FFFF
      "\"\xe2\x82\"",          // truncated sequence
      "\"\xff\"",              // never valid in UTF-8
  };
  for (const std::string_view string : cases) {
    check_record_error_for_every_type(record_v(string), DecodeFailure::InvalidJson, kNotUtf8);
    // In a member no column reads, too: the record as a whole is not JSON text.
    check_record_error_for_every_type("{\"id\": 1, \"v\": null, \"other\": " + std::string(string) + "}",
                                      DecodeFailure::InvalidJson, kNotUtf8);
  }
  check_record_error_for_every_type("{\"\xc0\xaf\": 1, \"id\": 1}", DecodeFailure::InvalidJson, kNotUtf8);
}

TEST_CASE("lone UTF-16 surrogate escapes are invalid_json, whatever the column type") {
  // PostgreSQL's json and jsonb refuse them as well; no column type could store them.
  constexpr std::string_view kBadString = "invalid JSON: Problem while parsing a string";
  for (const std::string_view string : {R"("\ud800")", R"("\udc00")", R"("a\ud800b")", R"("\ud800\u0041")",
                                        R"("\udc00\ud800")", R"("\ud83d")"}) {
    check_record_error_for_every_type(record_v(string), DecodeFailure::InvalidJson, kBadString);
  }
  // A well-formed pair is a character like any other.
  CHECK(run(id_and_v(ColumnType::Text), record_with(record_v(R"("\ud83d\ude00")"))).field_bytes(1) ==
        "\xf0\x9f\x98\x80");
}

TEST_CASE("a raw NUL or other control byte in the value is invalid_json, whatever the column type") {
  using namespace std::string_literals;
  // A NUL is named with its offset wherever it is: simdjson would call a trailing one
  // "document ended early in the middle of an object or array".
  const std::pair<std::string, std::string_view> nul_cases[] = {
      {record_v("\"a\0b\""s), "invalid JSON: NUL byte at offset 17"},
      {record_v("\"\0\""s), "invalid JSON: NUL byte at offset 16"},
      {record_v("\"2024-01-01\0\""s), "invalid JSON: NUL byte at offset 26"},
      {"{\"id\": 1, \"v\": 1}\0"s, "invalid JSON: NUL byte at offset 17"},
      {"\0{\"id\": 1, \"v\": 1}"s, "invalid JSON: NUL byte at offset 0"},
      {"{\"id\": 1,\0\"v\": 1}"s, "invalid JSON: NUL byte at offset 9"},
  };
  for (const auto& [value, reason] : nul_cases) {
    check_record_error_for_every_type(value, DecodeFailure::InvalidJson, reason);
  }

  constexpr std::string_view kUnescaped =
      "invalid JSON: Within strings, some characters must be escaped, we found unescaped characters";
  for (const std::string& string : {"\"a\nb\""s, "\"a\x1f\""s, "\"\x01\""s}) {
    check_record_error_for_every_type(record_v(string), DecodeFailure::InvalidJson, kUnescaped);
  }
}

TEST_CASE("nesting deeper than the parser's 1024 levels is invalid_json, in a read field or an unrelated one") {
  constexpr std::string_view kTooDeep = "invalid JSON: nested deeper than 1024 levels";
  check_record_error_for_every_type(record_v(nested_arrays(2000)), DecodeFailure::InvalidJson, kTooDeep);
  check_record_error_for_every_type(record_v(nested_objects(2000)), DecodeFailure::InvalidJson, kTooDeep);
  check_record_error_for_every_type("{\"id\": 1, \"v\": null, \"x\": " + nested_arrays(2000) + "}",
                                    DecodeFailure::InvalidJson, kTooDeep);
  check_record_error_for_every_type("{\"id\": 1, \"v\": null, \"x\": " + nested_objects(2000) + "}",
                                    DecodeFailure::InvalidJson, kTooDeep);

  // The record object is level 1, so 1023 levels inside it are the deepest allowed.
  for (const ColumnType type : {ColumnType::Json, ColumnType::Jsonb}) {
    CAPTURE(column_type_name(type));
    const std::string deepest = nested_arrays(1023);
    const Outcome outcome = run(id_and_v(type), record_with(record_v(deepest)));
    REQUIRE_FALSE(outcome.error.has_value());
    CHECK(outcome.field_bytes(1) == (type == ColumnType::Jsonb ? "\x01" + deepest : deepest));
    check_error(run(id_and_v(type), record_with(record_v(nested_arrays(1024)))), "", DecodeFailure::InvalidJson,
                kTooDeep);
  }
}

TEST_CASE("a missing or null value in a non-nullable column of any type is missing_value") {
  for (const ColumnType type : kEveryType) {
    CAPTURE(column_type_name(type));
    check_error(run(id_and_v(type), record_with(R"({"id": 1})")), "v", DecodeFailure::MissingValue,
                "missing non-nullable value");
    check_error(run(id_and_v(type), record_with(R"({"id": 1, "v": null})")), "v", DecodeFailure::MissingValue,
                "null in non-nullable column");
    // A path through a scalar or past an array's end finds no value either.
    const SinkConfig through = sink_with({column("id", "/id", ColumnType::BigInt), column("v", "/v/0/x", type)});
    check_error(run(through, record_with(R"({"id": 1, "v": [7]})")), "v", DecodeFailure::MissingValue,
                "missing non-nullable value");
    check_error(run(through, record_with(R"({"id": 1, "v": []})")), "v", DecodeFailure::MissingValue,
                "missing non-nullable value");

    const Outcome nullable = run(id_and_v(type, true), record_with(R"({"id": 1, "v": null})"));
    CHECK(nullable.field_hex(1) == "NULL");
    CHECK(run(id_and_v(type, true), record_with(R"({"id": 1})")).field_hex(1) == "NULL");
  }
}

TEST_CASE("a JSON value of a kind the column type does not take is wrong_type, for every type and kind") {
  enum Kind { kNumber = 1, kString = 2, kBoolean = 4, kArray = 8, kObject = 16 };
  struct Shape {
    ColumnType type;
    const char* expected;  // what the reason says the column takes
    int accepted;
  };
  const Shape shapes[] = {
      {ColumnType::SmallInt, "a JSON integer", kNumber},
      {ColumnType::Integer, "a JSON integer", kNumber},
      {ColumnType::BigInt, "a JSON integer", kNumber},
      {ColumnType::Real, "a JSON number", kNumber},
      {ColumnType::Double, "a JSON number", kNumber},
      {ColumnType::Numeric, "a JSON number or a string holding a decimal number", kNumber | kString},
      {ColumnType::Boolean, "a JSON boolean", kBoolean},
      {ColumnType::Text, "a JSON string", kString},
      {ColumnType::Uuid, "a JSON string", kString},
      {ColumnType::Date, "a JSON string", kString},
      {ColumnType::Timestamp, "an ISO 8601 string or integer epoch milliseconds", kNumber | kString},
      {ColumnType::TimestampTz, "an ISO 8601 string or integer epoch milliseconds", kNumber | kString},
      {ColumnType::Json, "", kNumber | kString | kBoolean | kArray | kObject},
      {ColumnType::Jsonb, "", kNumber | kString | kBoolean | kArray | kObject},
      {ColumnType::Bytea, "a JSON string", kString},
      {ColumnType::Time, "a string HH:MM[:SS[.ffffff]] or integer microseconds of the day", kNumber | kString},
  };
  struct Sample {
    Kind kind;
    const char* name;
    const char* json;
  };
  const Sample samples[] = {
      {kNumber, "number", "42"},         {kNumber, "number", "-1.5"},    {kString, "string", "\"42\""},
      {kString, "string", "\"\""},       {kBoolean, "boolean", "true"},  {kBoolean, "boolean", "false"},
      {kArray, "array", "[]"},           {kArray, "array", "[1]"},       {kObject, "object", "{}"},
      {kObject, "object", R"({"v": 1})"},
  };
  int wrong_cases = 0;
  for (const Shape& shape : shapes) {
    for (const Sample& sample : samples) {
      if ((shape.accepted & sample.kind) != 0) continue;
      ++wrong_cases;
      CAPTURE(column_type_name(shape.type), sample.json);
      check_error(run(id_and_v(shape.type), record_with(record_v(sample.json))), "v", DecodeFailure::WrongType,
                  std::string("expected ") + shape.expected + ", got " + sample.name);
    }
  }
  CHECK(wrong_cases == 104);  // every combination above that is not accepted

  // json and jsonb take any kind, as written.
  for (const Sample& sample : samples) {
    CAPTURE(sample.json);
    CHECK(run(id_and_v(ColumnType::Json), record_with(record_v(sample.json))).field_bytes(1) == sample.json);
    CHECK(run(id_and_v(ColumnType::Jsonb), record_with(record_v(sample.json))).field_bytes(1) ==
          std::string("\x01") + sample.json);
  }
}

TEST_CASE("integer columns take integer literals up to their width and nothing else") {
  check_good_values({
      {ColumnType::SmallInt, "-32768", "80 00"},
      {ColumnType::SmallInt, "32767", "7f ff"},
      {ColumnType::SmallInt, "-0", "00 00"},
      {ColumnType::Integer, "-2147483648", "80 00 00 00"},
      {ColumnType::Integer, "2147483647", "7f ff ff ff"},
      {ColumnType::BigInt, "-9223372036854775808", "80 00 00 00 00 00 00 00"},
      {ColumnType::BigInt, "9223372036854775807", "7f ff ff ff ff ff ff ff"},
  });
  check_bad_values({
      {ColumnType::SmallInt, "32768", DecodeFailure::OutOfRange, "32768 is out of range for smallint"},
      {ColumnType::SmallInt, "-32769", DecodeFailure::OutOfRange, "-32769 is out of range for smallint"},
      {ColumnType::Integer, "2147483648", DecodeFailure::OutOfRange, "2147483648 is out of range for integer"},
      {ColumnType::Integer, "-2147483649", DecodeFailure::OutOfRange, "-2147483649 is out of range for integer"},
      {ColumnType::BigInt, "9223372036854775808", DecodeFailure::OutOfRange,
       "9223372036854775808 is out of range for bigint"},
      {ColumnType::BigInt, "-9223372036854775809", DecodeFailure::OutOfRange,
       "-9223372036854775809 is out of range for bigint"},
      {ColumnType::SmallInt, "123456789012345678901234567890", DecodeFailure::OutOfRange,
       "123456789012345678901234567890 is out of range for smallint"},
  });
  // Fractions and exponents are refused even when the value is a whole number:
  // PostgreSQL's integer input refuses '1e2' and '100.0' too.
  std::vector<BadValue> not_integers;
  for (const ColumnType type : {ColumnType::SmallInt, ColumnType::Integer, ColumnType::BigInt}) {
    for (const char* json : {"1.5", "-1.5", "1e2", "1E2", "100.0", "1.0e2", "-0.0", "1e400", "1e-400"}) {
      not_integers.push_back({type, json, DecodeFailure::InvalidValue, std::string(json) + " is not an integer"});
    }
  }
  check_bad_values(not_integers);
}

TEST_CASE("real and double take numbers within their range, refusing overflow and underflow") {
  check_good_values({
      {ColumnType::Real, "3.4028235e38", "7f 7f ff ff"},     // rounds to the largest float
      {ColumnType::Real, "-3.4028235e38", "ff 7f ff ff"},
      {ColumnType::Real, "1e-45", "00 00 00 01"},            // the smallest subnormal float
      {ColumnType::Real, "0e400", "00 00 00 00"},            // zero is never out of range
      {ColumnType::Real, "1e2", "42 c8 00 00"},
      {ColumnType::Double, "1.7976931348623157e308", "7f ef ff ff ff ff ff ff"},
      {ColumnType::Double, "4.9e-324", "00 00 00 00 00 00 00 01"},
      {ColumnType::Double, "-0.0", "80 00 00 00 00 00 00 00"},
      {ColumnType::Double, "0e-999", "00 00 00 00 00 00 00 00"},
  });
  check_bad_values({
      {ColumnType::Real, "1e39", DecodeFailure::OutOfRange, "1e39 is out of range for real"},
      {ColumnType::Real, "-1e39", DecodeFailure::OutOfRange, "-1e39 is out of range for real"},
      {ColumnType::Real, "3.4028236e38", DecodeFailure::OutOfRange, "3.4028236e38 is out of range for real"},
      {ColumnType::Real, "1e400", DecodeFailure::OutOfRange, "1e400 is out of range for real"},
      {ColumnType::Real, "1e-46", DecodeFailure::OutOfRange, "1e-46 is out of range for real"},
      {ColumnType::Double, "1e400", DecodeFailure::OutOfRange, "1e400 is out of range for double"},
      {ColumnType::Double, "-1e400", DecodeFailure::OutOfRange, "-1e400 is out of range for double"},
      {ColumnType::Double, "1.7976931348623159e308", DecodeFailure::OutOfRange,
       "1.7976931348623159e308 is out of range for double"},
      {ColumnType::Double, "1e-400", DecodeFailure::OutOfRange, "1e-400 is out of range for double"},
      {ColumnType::Double, "2e-324", DecodeFailure::OutOfRange, "2e-324 is out of range for double"},
  });
}

TEST_CASE("numeric keeps any number PostgreSQL's numeric holds, 1e400 included, and refuses the rest") {
  check_good_values({
      {ColumnType::Numeric, "1e400", "00 01 00 64 00 00 00 00 00 01"},
      {ColumnType::Numeric, "1e100000", "00 01 61 a8 00 00 00 00 00 01"},
      {ColumnType::Numeric, "1e131071", "00 01 7f ff 00 00 00 00 03 e8"},  // PostgreSQL's largest power of ten
      {ColumnType::Numeric, "\"NaN\"", "00 00 00 00 c0 00 00 00"},
      {ColumnType::Numeric, "\"-Infinity\"", "00 00 00 00 f0 00 00 00"},
      {ColumnType::Numeric, "\"+1.5\"", "00 02 00 00 00 00 00 01 00 01 13 88"},
  });
  CHECK_FALSE(run(id_and_v(ColumnType::Numeric), record_with(record_v("1e-16383"))).error.has_value());
  check_bad_values({
      {ColumnType::Numeric, "1e131072", DecodeFailure::OutOfRange,
       "1e131072: too many digits before the decimal point for numeric (at most 131072)"},
      {ColumnType::Numeric, "1e1000001", DecodeFailure::OutOfRange, "1e1000001: exponent is out of range"},
      {ColumnType::Numeric, "1e-16384", DecodeFailure::OutOfRange,
       "1e-16384: too many digits after the decimal point for numeric (at most 16383)"},
      {ColumnType::Numeric, "1" + std::string(131072, '0'), DecodeFailure::OutOfRange,
       "1" + std::string(63, '0') + "...: too many digits before the decimal point for numeric (at most 131072)"},
      {ColumnType::Numeric, "\"1e131072\"", DecodeFailure::OutOfRange,
       "invalid numeric \"1e131072\": too many digits before the decimal point for numeric (at most 131072)"},
      {ColumnType::Numeric, "\"abc\"", DecodeFailure::InvalidValue, "invalid numeric \"abc\": not a decimal number"},
      {ColumnType::Numeric, "\"\"", DecodeFailure::InvalidValue, "invalid numeric \"\": not a decimal number"},
      {ColumnType::Numeric, "\" 1\"", DecodeFailure::InvalidValue, "invalid numeric \" 1\": not a decimal number"},
      {ColumnType::Numeric, "\"-NaN\"", DecodeFailure::InvalidValue, "invalid numeric \"-NaN\": not a decimal number"},
      {ColumnType::Numeric, "\"1,5\"", DecodeFailure::InvalidValue, "invalid numeric \"1,5\": not a decimal number"},
  });
}

TEST_CASE("dates take YYYY-MM-DD within 0001-9999 and refuse impossible or malformed dates") {
  check_good_values({
      {ColumnType::Date, R"("0001-01-01")", "ff f4 db f9"},
      {ColumnType::Date, R"("9999-12-31")", "00 2c 95 d3"},
      {ColumnType::Date, R"("2024-02-29")", "00 00 22 79"},
  });
  const std::string form = ": not of the form YYYY-MM-DD";
  check_bad_values({
      {ColumnType::Date, R"("2026-02-30")", DecodeFailure::InvalidValue,
       "invalid date \"2026-02-30\": day is out of range for the month"},
      {ColumnType::Date, R"("2026-02-29")", DecodeFailure::InvalidValue,
       "invalid date \"2026-02-29\": day is out of range for the month"},
      {ColumnType::Date, R"("2026-04-00")", DecodeFailure::InvalidValue,
       "invalid date \"2026-04-00\": day is out of range for the month"},
      {ColumnType::Date, R"("2026-13-01")", DecodeFailure::InvalidValue,
       "invalid date \"2026-13-01\": month is out of range"},
      {ColumnType::Date, R"("2026-00-10")", DecodeFailure::InvalidValue,
       "invalid date \"2026-00-10\": month is out of range"},
      {ColumnType::Date, R"("0000-01-01")", DecodeFailure::InvalidValue,
       "invalid date \"0000-01-01\": year 0000 does not exist"},
      // Beyond four-digit years the form itself is wrong: no written date can leave
      // PostgreSQL's range (4713 BC to 5874897 AD).
      {ColumnType::Date, R"("10000-01-01")", DecodeFailure::InvalidValue, "invalid date \"10000-01-01\"" + form},
      {ColumnType::Date, R"("-0001-01-01")", DecodeFailure::InvalidValue, "invalid date \"-0001-01-01\"" + form},
      {ColumnType::Date, R"("garbage")", DecodeFailure::InvalidValue, "invalid date \"garbage\"" + form},
      {ColumnType::Date, R"("")", DecodeFailure::InvalidValue, "invalid date \"\"" + form},
      {ColumnType::Date, R"("2026/01/01")", DecodeFailure::InvalidValue, "invalid date \"2026/01/01\"" + form},
      {ColumnType::Date, R"("2026-1-01")", DecodeFailure::InvalidValue, "invalid date \"2026-1-01\"" + form},
      {ColumnType::Date, R"("2026-01-01T00:00")", DecodeFailure::InvalidValue,
       "invalid date \"2026-01-01T00:00\"" + form},
  });
}

TEST_CASE("timestamps refuse impossible times, malformed text and instants outside PostgreSQL's range") {
  const std::string form = ": not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]";
  std::vector<BadValue> bad;
  for (const ColumnType type : {ColumnType::Timestamp, ColumnType::TimestampTz}) {
    const std::string invalid = "invalid " + std::string(column_type_name(type)) + " ";
    const auto text = [&](const char* written, const std::string& problem) {
      bad.push_back({type, std::string("\"") + written + "\"", DecodeFailure::InvalidValue,
                     invalid + "\"" + written + "\"" + problem});
    };
    text("2026-02-30T12:00:00", ": day is out of range for the month");
    text("2026-13-01T12:00:00", ": month is out of range");
    text("0000-01-01T12:00:00", ": year 0000 does not exist");
    text("2026-01-01T24:00:01", ": hour is out of range");
    text("2026-01-01T24:00:00", ": hour is out of range");  // PostgreSQL rolls it over; we stay strict
    text("2026-01-01T12:60:00", ": minute is out of range");
    text("2026-01-01T12:00:60", ": second is out of range");  // no leap seconds
    text("2026-01-01T12:00:00.1234567", ": more than 6 digits of fractional seconds");
    text("2026-01-01T12:00:00+16:00", ": UTC offset is out of range");
    text("garbage", form);
    text("", form);
    text("2026-01-01", form);
    text("2026-01-01T12", form);
    text("2026-01-01X12:00:00", form);
    text("10000-01-01T00:00:00", form);
    text("2026-01-01T12:00:00.", form);
    text("2026-01-01T12:00:00 UTC", form);
    text("2026-01-01T12:00:00Zjunk", form);
    for (const char* millis : {"1.5", "1e3", "-0.5"}) {
      bad.push_back({type, millis, DecodeFailure::InvalidValue,
                     std::string(millis) + " is not an integer number of epoch milliseconds"});
    }
    // Epoch milliseconds are the one way to write an instant outside PostgreSQL's
    // range (4714-11-24 BC up to 294277 AD).
    for (const char* millis : {"-210866803200001", "9223372036854776", "9223372036854775807",
                               "-9223372036854775808", "9223372036854775808", "99999999999999999999"}) {
      bad.push_back({type, millis, DecodeFailure::OutOfRange,
                     std::string(millis) + " epoch milliseconds is out of PostgreSQL's timestamp range"});
    }
  }
  bad.push_back({ColumnType::Timestamp, R"("2026-01-01T12:00:00Z")", DecodeFailure::InvalidValue,
                 "timestamp without time zone must not carry an offset: \"2026-01-01T12:00:00Z\""});
  check_bad_values(bad);

  check_good_values({
      {ColumnType::Timestamp, R"("0001-01-01T00:00:00")", "ff 1f e2 ff c5 9c 60 00"},
      {ColumnType::Timestamp, R"("9999-12-31T23:59:59.999999")", "03 80 e7 0b 91 3b 7f ff"},
      {ColumnType::TimestampTz, R"("0001-01-01T00:00:00+15:59")", "ff 1f e2 f2 5f f5 a7 00"},
      {ColumnType::TimestampTz, R"("9999-12-31T23:59:59.999999-15:59")", "03 80 e7 18 f6 e2 38 ff"},
      {ColumnType::Timestamp, "-210866803200000", "fd 0f 7c c1 41 1f a0 00"},  // PostgreSQL's first instant
      {ColumnType::TimestampTz, "9223372036854775", "7f fc a2 fe c4 c8 1c d8"},
  });
}

TEST_CASE("uuids need 32 hex digits with hyphens only in the canonical places") {
  const std::string expected = "12 3e 45 67 e8 9b 12 d3 a4 56 42 66 14 17 40 00";
  check_good_values({
      {ColumnType::Uuid, R"("123e4567-e89b-12d3-a456-426614174000")", expected},
      {ColumnType::Uuid, R"("123E4567E89B12D3A456426614174000")", expected},
      {ColumnType::Uuid, R"("{123e4567-e89b-12d3-a456-426614174000}")", expected},
  });
  std::vector<BadValue> bad;
  for (const char* written : {
           "",
           "123e4567-e89b-12d3-a456-42661417400",    // 35 characters
           "123e4567-e89b-12d3-a456-4266141740000",  // 37 characters
           "123e4567e89b12d3a45642661417400",        // 31 hex digits
           "123e4567e89b12d3a4564266141740000",      // 33 hex digits
           "123e4567-e89b-12d3-a456-42661417400g",   // not hex
           "123e4567-e89b-12d3-a456-42661417400 ",
           "123e4567e-89b-12d3-a456-426614174000",   // hyphen one place late
           "123e4567-e89b12d3-a456-4266-14174000",   // hyphens moved
           "123e4567-e89b-12d3-a456-426614174000-",
           "-123e4567-e89b-12d3-a456-42661417400",
           "{123e4567-e89b-12d3-a456-426614174000",  // unbalanced brace
           "123e4567-e89b-12d3-a456-426614174000}",
           "(123e4567-e89b-12d3-a456-426614174000)",
           "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
       }) {
    bad.push_back({ColumnType::Uuid, std::string("\"") + written + "\"", DecodeFailure::InvalidValue,
                   std::string("invalid uuid \"") + written + "\""});
  }
  check_bad_values(bad);
}

TEST_CASE("bytea takes standard padded base64 and names what is wrong with anything else") {
  check_good_values({
      {ColumnType::Bytea, R"("")", ""},
      {ColumnType::Bytea, R"("AP8=")", "00 ff"},
      {ColumnType::Bytea, R"("aA==")", "68"},
      {ColumnType::Bytea, R"("+/+/")", "fb ff bf"},
  });
  const auto base64 = [](const char* written, const char* problem) {
    return BadValue{ColumnType::Bytea, std::string("\"") + written + "\"", DecodeFailure::InvalidValue,
                    std::string("invalid base64 \"") + written + "\": " + problem};
  };
  check_bad_values({
      base64("aGVs*G8=", "invalid character"),
      base64("aGVsbG8-", "invalid character"),  // base64url is not standard base64
      base64("aGVsbG8_", "invalid character"),
      base64("aGVs bG8", "invalid character"),
      base64("====", "misplaced '=' padding"),
      base64("a===", "misplaced '=' padding"),
      base64("aG=h", "misplaced '=' padding"),
      base64("aGk=aGk=", "misplaced '=' padding"),  // padding before the end
      base64("aGVsbG8", "length is not a multiple of 4"),
      base64("a", "length is not a multiple of 4"),
      base64("aGVsbG8==", "length is not a multiple of 4"),
      base64("aGVsbG8=a", "length is not a multiple of 4"),
  });
}

TEST_CASE("\\u0000 is refused where PostgreSQL cannot store a NUL and kept by json") {
  check_bad_values({
      {ColumnType::Text, R"("a\u0000b")", DecodeFailure::InvalidValue, "text must not contain NUL (\\u0000)"},
      {ColumnType::Text, R"("\u0000")", DecodeFailure::InvalidValue, "text must not contain NUL (\\u0000)"},
      {ColumnType::Jsonb, R"("a\u0000b")", DecodeFailure::InvalidValue, "jsonb cannot store \\u0000 in a string"},
      {ColumnType::Jsonb, R"({"k\u0000": 1})", DecodeFailure::InvalidValue, "jsonb cannot store \\u0000 in a string"},
      {ColumnType::Jsonb, R"([1, {"k": ["\u0000"]}])", DecodeFailure::InvalidValue,
       "jsonb cannot store \\u0000 in a string"},
      {ColumnType::Uuid, R"("123e4567-e89b-12d3-a456-42661417400\u0000")", DecodeFailure::InvalidValue,
       "invalid uuid \"123e4567-e89b-12d3-a456-42661417400\\x00\""},
      {ColumnType::Date, R"("2024-01-0\u0000")", DecodeFailure::InvalidValue,
       "invalid date \"2024-01-0\\x00\": not of the form YYYY-MM-DD"},
      {ColumnType::TimestampTz, R"("2024-01-01T00:00:00\u0000")", DecodeFailure::InvalidValue,
       "invalid timestamptz \"2024-01-01T00:00:00\\x00\": not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]"},
      {ColumnType::Numeric, R"("1\u0000")", DecodeFailure::InvalidValue,
       "invalid numeric \"1\\x00\": not a decimal number"},
      {ColumnType::Bytea, R"("aGk\u0000")", DecodeFailure::InvalidValue,
       "invalid base64 \"aGk\\x00\": invalid character"},
  });
  // json is stored as written, and PostgreSQL's json accepts the escape.
  CHECK(run(id_and_v(ColumnType::Json), record_with(record_v(R"("a\u0000b")"))).field_bytes(1) == R"("a\u0000b")");
  // An escaped backslash before "u0000" is no NUL.
  CHECK(run(id_and_v(ColumnType::Jsonb), record_with(record_v(R"("a\\u0000b")"))).field_bytes(1) ==
        "\x01\"a\\\\u0000b\"");
  CHECK(run(id_and_v(ColumnType::Text), record_with(record_v(R"("a\\u0000b")"))).field_bytes(1) == "a\\u0000b");
}

TEST_CASE("jsonb refuses numbers beyond numeric's range, which json keeps as written") {
  check_bad_values({
      {ColumnType::Jsonb, "1e131072", DecodeFailure::OutOfRange,
       "holds a number beyond the range of numeric, which jsonb stores numbers as"},
      {ColumnType::Jsonb, R"({"a": [1, -1e-16384]})", DecodeFailure::OutOfRange,
       "holds a number beyond the range of numeric, which jsonb stores numbers as"},
  });
  CHECK(run(id_and_v(ColumnType::Jsonb), record_with(record_v("1e400"))).field_bytes(1) == "\x01" "1e400");
  CHECK(run(id_and_v(ColumnType::Json), record_with(record_v("1e100001"))).field_bytes(1) == "1e100001");
}

// Keys and headers carry the text form of a value; the same inputs go wrong there in
// their own ways.

namespace {

Outcome run_header(ColumnType type, std::optional<std::string_view> header_value) {
  const RecordHeader headers[] = {{"h", header_value}};
  RecordView record = record_with("{}");
  record.headers = headers;
  return run(sink_with({column("c", "@header:h", type)}), record);
}

Outcome run_key(ColumnType type, std::optional<std::string_view> key) {
  RecordView record = record_with("{}");
  record.key = key;
  return run(sink_with({column("c", "@key", type)}), record);
}

}  // namespace

TEST_CASE("real and double headers refuse NaN and infinities, which no JSON number can be") {
  // These used to decode to NaN and infinity.
  for (const ColumnType type : {ColumnType::Real, ColumnType::Double}) {
    const std::string name(column_type_name(type));
    for (const char* text : {"nan", "NaN", "-nan", "nan(1)", "inf", "-inf", "Infinity", "-Infinity", "abc", "",
                             "1.5x", "0x10", " 1", "+-1"}) {
      CAPTURE(name, text);
      check_error(run_header(type, text), "c", DecodeFailure::InvalidValue,
                  "@header:h: invalid " + name + " \"" + text + "\": not a finite decimal number");
    }
    for (const char* text : {"1e400", "-1e400", "1e-400"}) {
      CAPTURE(name, text);
      check_error(run_header(type, text), "c", DecodeFailure::OutOfRange,
                  "@header:h: \"" + std::string(text) + "\" is out of range for " + name);
    }
  }
  check_error(run_header(ColumnType::Real, "1e39"), "c", DecodeFailure::OutOfRange,
              "@header:h: \"1e39\" is out of range for real");
  CHECK(run_header(ColumnType::Real, "+1.5").field_hex(0) == "3f c0 00 00");
  CHECK(run_header(ColumnType::Double, ".5").field_hex(0) == "3f e0 00 00 00 00 00 00");
  CHECK(run_header(ColumnType::Double, "-1e2").field_hex(0) == "c0 59 00 00 00 00 00 00");
}

TEST_CASE("bad text forms in headers and keys carry the reason code of the same value in JSON") {
  using namespace std::string_literals;
  check_error(run_header(ColumnType::SmallInt, "32768"), "c", DecodeFailure::OutOfRange,
              "@header:h: \"32768\" is out of range for smallint");
  check_error(run_header(ColumnType::BigInt, "1.5"), "c", DecodeFailure::InvalidValue,
              "@header:h: invalid bigint \"1.5\"");
  check_error(run_header(ColumnType::Boolean, "maybe"), "c", DecodeFailure::InvalidValue,
              "@header:h: invalid boolean \"maybe\"");
  check_error(run_header(ColumnType::Date, "2026-02-30"), "c", DecodeFailure::InvalidValue,
              "@header:h: invalid date \"2026-02-30\": day is out of range for the month");
  check_error(run_header(ColumnType::TimestampTz, "9223372036854775807"), "c", DecodeFailure::OutOfRange,
              "@header:h: 9223372036854775807 epoch milliseconds is out of PostgreSQL's timestamp range");
  check_error(run_header(ColumnType::Numeric, "1e131072"), "c", DecodeFailure::OutOfRange,
              "@header:h: invalid numeric \"1e131072\": too many digits before the decimal point for numeric "
              "(at most 131072)");
  check_error(run_header(ColumnType::Uuid, "123e4567-e89b-12d3-a456"), "c", DecodeFailure::InvalidValue,
              "@header:h: invalid uuid \"123e4567-e89b-12d3-a456\"");

  // Raw NUL and invalid UTF-8 can reach a text column only through a key or header.
  check_error(run_header(ColumnType::Text, "a\0b"s), "c", DecodeFailure::InvalidValue,
              "@header:h: text must not contain NUL");
  check_error(run_key(ColumnType::Text, "\xc0\xaf"), "c", DecodeFailure::InvalidValue,
              "@key: text is not valid UTF-8: \"\\xc0\\xaf\"");
  check_error(run_key(ColumnType::Text, "\xed\xa0\x80"), "c", DecodeFailure::InvalidValue,
              "@key: text is not valid UTF-8: \"\\xed\\xa0\\x80\"");
  check_error(run_key(ColumnType::Uuid, "123e4567-e89b-12d3-a456-42661417400\0"s), "c", DecodeFailure::InvalidValue,
              "@key: invalid uuid \"123e4567-e89b-12d3-a456-42661417400\\x00\"");
  CHECK(run_key(ColumnType::Bytea, "a\0\xff"s).field_hex(0) == "61 00 ff");  // bytea takes raw bytes

  // json and jsonb keys and headers must be JSON themselves.
  check_error(run_header(ColumnType::Jsonb, "{\"a\": 1"), "c", DecodeFailure::InvalidJson,
              "@header:h: invalid JSON: JSON document ended early in the middle of an object or array.");
  check_error(run_header(ColumnType::Json, "\"\xff\""), "c", DecodeFailure::InvalidJson,
              "@header:h: invalid JSON: The input is not valid UTF-8");
  check_error(run_header(ColumnType::Jsonb, nested_arrays(2000)), "c", DecodeFailure::InvalidJson,
              "@header:h: invalid JSON: nested deeper than 1024 levels");
  check_error(run_key(ColumnType::Jsonb, R"({"a": "\u0000"})"), "c", DecodeFailure::InvalidValue,
              "@key: jsonb cannot store \\u0000 in a string");

  check_error(run_header(ColumnType::Text, std::nullopt), "c", DecodeFailure::MissingValue,
              "null in non-nullable column");
  check_error(run_key(ColumnType::Text, std::nullopt), "c", DecodeFailure::MissingValue, "null in non-nullable column");
  RecordView no_headers = record_with("{}");
  check_error(run(sink_with({column("c", "@header:h", ColumnType::Text)}), no_headers), "c",
              DecodeFailure::MissingValue, "missing non-nullable value");
}

// ---- Tombstone keys ------------------------------------------------------------------

namespace {

Outcome run_tombstone(const SinkConfig& sink, std::optional<std::string_view> key) {
  RecordView record = record_with(std::nullopt);
  record.key = key;
  return run(sink, record, Call::TombstoneKey);
}

}  // namespace

TEST_CASE("a tombstone key that cannot name the composite primary key is invalid_key") {
  const SinkConfig sink =
      sink_with({column("id", "/id", ColumnType::BigInt), column("region", "/region", ColumnType::Text),
                 column("payload", "/payload", ColumnType::Jsonb, true)},
                {"id", "region"});
  const Outcome good = run_tombstone(sink, R"({"id": 7, "region": "eu"})");
  CHECK(good.field_hex(0) == "00 00 00 00 00 00 00 07");
  CHECK(good.field_bytes(1) == "eu");
  CHECK(good.field_hex(2) == "NULL");

  const std::string not_object =
      "the tombstone's key is not a JSON object, so it cannot name the 2 columns of the primary key";
  const std::string missing = "the tombstone's key has no value for this primary-key column";
  const std::tuple<std::optional<std::string_view>, std::string_view, std::string> cases[] = {
      {std::nullopt, "", "tombstone without a key"},
      {"7", "id", not_object},
      {"abc", "id", not_object},
      {"", "id", not_object},
      {R"([7, "eu"])", "id", not_object},
      {R"({"id": 7, "region": "eu")", "id", not_object},  // not JSON at all
      {"{\"id\": 7, \"region\": \"\xff\"}", "id", not_object},
      {R"({"region": "eu"})", "id", missing},
      {R"({"id": 7})", "region", missing},
      {R"({})", "id", missing},
      {R"({"id": "7", "region": "eu"})", "id", "tombstone key: expected a JSON integer, got string"},
      {R"({"id": 7, "region": 5})", "region", "tombstone key: expected a JSON string, got number"},
      {R"({"id": 1.5, "region": "eu"})", "id", "tombstone key: 1.5 is not an integer"},
      {R"({"id": 9223372036854775808, "region": "eu"})", "id",
       "tombstone key: 9223372036854775808 is out of range for bigint"},
      {R"({"id": null, "region": "eu"})", "id", "null in non-nullable column"},
      {R"({"id": 7, "region": "a\u0000"})", "region", "tombstone key: text must not contain NUL (\\u0000)"},
  };
  for (const auto& [key, failing_column, reason] : cases) {
    CAPTURE(key.value_or("(no key)"));
    check_error(run_tombstone(sink, key), failing_column, DecodeFailure::InvalidKey, reason);
  }
}

TEST_CASE("a bare one-column tombstone key that is not a value of the key's type is invalid_key") {
  const SinkConfig bigint_key = sink_with({column("id", "/id", ColumnType::BigInt)}, {"id"});
  CHECK(run_tombstone(bigint_key, "-9223372036854775808").field_hex(0) == "80 00 00 00 00 00 00 00");
  CHECK(run_tombstone(bigint_key, R"({"id": 5})").field_hex(0) == "00 00 00 00 00 00 00 05");
  const std::pair<std::string_view, std::string_view> bigint_cases[] = {
      {"abc", "tombstone key: invalid bigint \"abc\""},
      {"", "tombstone key: invalid bigint \"\""},
      {"1.5", "tombstone key: invalid bigint \"1.5\""},
      {"1e2", "tombstone key: invalid bigint \"1e2\""},
      {"null", "tombstone key: invalid bigint \"null\""},
      {"[5]", "tombstone key: invalid bigint \"[5]\""},
      {"\"five\"", "tombstone key: invalid bigint \"five\""},
      {"9223372036854775808", "tombstone key: \"9223372036854775808\" is out of range for bigint"},
      {R"({"other": 5})", "the tombstone's key has no value for this primary-key column"},
      {R"({"id": true})", "tombstone key: expected a JSON integer, got boolean"},
  };
  for (const auto& [key, reason] : bigint_cases) {
    CAPTURE(key);
    check_error(run_tombstone(bigint_key, key), "id", DecodeFailure::InvalidKey, reason);
  }

  const SinkConfig uuid_key = sink_with({column("id", "/id", ColumnType::Uuid)}, {"id"});
  check_error(run_tombstone(uuid_key, "not-a-uuid"), "id", DecodeFailure::InvalidKey,
              "tombstone key: invalid uuid \"not-a-uuid\"");
  const SinkConfig text_key = sink_with({column("id", "/id", ColumnType::Text)}, {"id"});
  check_error(run_tombstone(text_key, "\xff"), "id", DecodeFailure::InvalidKey,
              "tombstone key: text is not valid UTF-8: \"\\xff\"");
  const SinkConfig date_key = sink_with({column("day", "/day", ColumnType::Date)}, {"day"});
  check_error(run_tombstone(date_key, "2026-02-30"), "day", DecodeFailure::InvalidKey,
              "tombstone key: invalid date \"2026-02-30\": day is out of range for the month");

  // A primary key read from @key gets the row's own conversion, and the same label.
  const SinkConfig at_key =
      sink_with({column("k", "@key", ColumnType::Uuid), column("v", "/v", ColumnType::Text, true)}, {"k"});
  check_error(run_tombstone(at_key, "xyz"), "k", DecodeFailure::InvalidKey, "@key: invalid uuid \"xyz\"");
}

}  // namespace kps
