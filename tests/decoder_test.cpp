#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "connector/debezium_decoder.h"
#include "connector/decoder.h"
#include "tests/test_support.h"

// Counts heap allocations so a test can prove the warm decode path makes none.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Every replaceable form is replaced, so that memory from any of them (simdjson uses
// the nothrow form) is released by the matching one, sanitizers included.
namespace {
void* counted_allocation(size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* memory = counted_allocation(size)) return memory;
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  if (void* memory = counted_allocation(size)) return memory;
  throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept { return counted_allocation(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return counted_allocation(size); }
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, size_t) noexcept { std::free(memory); }
void operator delete(void* memory, const std::nothrow_t&) noexcept { std::free(memory); }
void operator delete[](void* memory, const std::nothrow_t&) noexcept { std::free(memory); }

namespace kps {
namespace {

using kps::testing::column;
using kps::testing::hex;
using kps::testing::record_with;
using kps::testing::sink_with;

/// A decode's outcome: the tuple, or the error.
struct Decoded {
  std::string tuple;
  std::optional<DecodeError> error;

  bool ok() const { return !error.has_value(); }
  /// Field `index` as hex, "NULL" for NULL.
  std::string field_hex(int index) const {
    REQUIRE(ok());
    const auto field = tuple_field(tuple, index);
    return field ? hex(*field) : "NULL";
  }
  std::string field_text(int index) const {
    REQUIRE(ok());
    const auto field = tuple_field(tuple, index);
    REQUIRE(field.has_value());
    return std::string(*field);
  }
  std::string reason() const {
    REQUIRE(error.has_value());
    return error->reason;
  }
};

Decoded decode(const SinkConfig& sink, const RecordView& record) {
  Decoder decoder(sink);
  CopyBuffer buffer;
  Decoded result;
  result.error = decoder.decode_value(record, buffer);
  result.tuple = std::string(buffer.view());
  if (result.error) CHECK(buffer.size() == 0);
  return result;
}

/// Decodes `{"v": <json>}` into one nullable column of `type`.
Decoded decode_v(ColumnType type, std::string_view json) {
  const SinkConfig sink = sink_with({column("v", "/v", type, true)});
  const std::string value = "{\"v\": " + std::string(json) + "}";
  Decoded result = decode(sink, record_with(value));
  if (result.error) CHECK(result.error->column == "v");
  return result;
}

std::string v_hex(ColumnType type, std::string_view json) { return decode_v(type, json).field_hex(0); }
std::string v_error(ColumnType type, std::string_view json) { return decode_v(type, json).reason(); }

Decoded decode_tombstone(const SinkConfig& sink, std::optional<std::string_view> key) {
  Decoder decoder(sink);
  CopyBuffer buffer;
  RecordView record = record_with(std::nullopt);
  record.key = key;
  Decoded result;
  result.error = decoder.decode_tombstone_key(record, buffer);
  result.tuple = std::string(buffer.view());
  if (result.error) CHECK(buffer.size() == 0);
  return result;
}

}  // namespace

TEST_CASE("smallint, integer and bigint take JSON integers up to the limits of their width") {
  CHECK(v_hex(ColumnType::SmallInt, "-32768") == "80 00");
  CHECK(v_hex(ColumnType::SmallInt, "32767") == "7f ff");
  CHECK(v_error(ColumnType::SmallInt, "32768") == "32768 is out of range for smallint");
  CHECK(v_error(ColumnType::SmallInt, "-32769") == "-32769 is out of range for smallint");
  CHECK(v_error(ColumnType::SmallInt, "70000") == "70000 is out of range for smallint");

  CHECK(v_hex(ColumnType::Integer, "-2147483648") == "80 00 00 00");
  CHECK(v_hex(ColumnType::Integer, "2147483647") == "7f ff ff ff");
  CHECK(v_error(ColumnType::Integer, "2147483648") == "2147483648 is out of range for integer");

  CHECK(v_hex(ColumnType::BigInt, "-9223372036854775808") == "80 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::BigInt, "9223372036854775807") == "7f ff ff ff ff ff ff ff");
  CHECK(v_error(ColumnType::BigInt, "9223372036854775808") == "9223372036854775808 is out of range for bigint");
  CHECK(v_error(ColumnType::BigInt, "-9223372036854775809") == "-9223372036854775809 is out of range for bigint");
  CHECK(v_hex(ColumnType::BigInt, "-0") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::BigInt, "1 ") == "00 00 00 00 00 00 00 01");
}

TEST_CASE("integer columns refuse fractions, exponents and non-numbers") {
  CHECK(v_error(ColumnType::BigInt, "1.5") == "1.5 is not an integer");
  CHECK(v_error(ColumnType::BigInt, "1.0") == "1.0 is not an integer");
  CHECK(v_error(ColumnType::BigInt, "1e3") == "1e3 is not an integer");
  CHECK(v_error(ColumnType::BigInt, "1e400") == "1e400 is not an integer");
  CHECK(v_error(ColumnType::Integer, "\"1\"") == "expected a JSON integer, got string");
  CHECK(v_error(ColumnType::SmallInt, "true") == "expected a JSON integer, got boolean");
  CHECK(v_error(ColumnType::BigInt, "[1]") == "expected a JSON integer, got array");
}

TEST_CASE("real and double take any JSON number within their range") {
  CHECK(v_hex(ColumnType::Real, "1.5") == "3f c0 00 00");
  CHECK(v_hex(ColumnType::Real, "0.1") == "3d cc cc cd");
  CHECK(v_hex(ColumnType::Real, "-0.0") == "80 00 00 00");
  CHECK(v_hex(ColumnType::Real, "3.4028234663852886e38") == "7f 7f ff ff");
  CHECK(v_error(ColumnType::Real, "1e39") == "1e39 is out of range for real");

  CHECK(v_hex(ColumnType::Double, "1.5") == "3f f8 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Double, "0.1") == "3f b9 99 99 99 99 99 9a");
  CHECK(v_hex(ColumnType::Double, "-0") == "80 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Double, "42") == "40 45 00 00 00 00 00 00");
  CHECK(v_error(ColumnType::Double, "1e400") == "1e400 is out of range for double");
  CHECK(v_error(ColumnType::Double, "-1e400") == "-1e400 is out of range for double");
  CHECK(v_error(ColumnType::Double, "1e-400") == "1e-400 is out of range for double");
  CHECK(v_error(ColumnType::Double, "\"1.5\"") == "expected a JSON number, got string");
}

TEST_CASE("numeric keeps every digit of a JSON number and accepts decimal strings") {
  CHECK(v_hex(ColumnType::Numeric, "123.4500") == "00 02 00 00 00 00 00 04 00 7b 11 94");
  CHECK(v_hex(ColumnType::Numeric, "-12.5e-3") == "00 01 ff ff 40 00 00 04 00 7d");
  // Beyond double and int64 precision: 1234 5678 9012 3456 7890 1234 5678 9012 .3456 789
  CHECK(v_hex(ColumnType::Numeric, "12345678901234567890123456789012.3456789") ==
        "00 0a 00 07 00 00 00 07 04 d2 16 2e 23 34 0d 80 1e d2 04 d2 16 2e 23 34 0d 80 1e d2");
  CHECK(v_hex(ColumnType::Numeric, "\"12345678901234567890123456789012.3456789\"") ==
        v_hex(ColumnType::Numeric, "12345678901234567890123456789012.3456789"));
  CHECK(v_hex(ColumnType::Numeric, "\"NaN\"") == "00 00 00 00 c0 00 00 00");
  CHECK(v_hex(ColumnType::Numeric, "1e400") == v_hex(ColumnType::Numeric, "\"1e400\""));

  CHECK(v_error(ColumnType::Numeric, "\"abc\"") == "invalid numeric \"abc\": not a decimal number");
  CHECK(v_error(ColumnType::Numeric, "1e200000") ==
        "1e200000: too many digits before the decimal point for numeric (at most 131072)");
  CHECK(v_error(ColumnType::Numeric, "1e-20000") ==
        "1e-20000: too many digits after the decimal point for numeric (at most 16383)");
  CHECK(v_error(ColumnType::Numeric, "true") ==
        "expected a JSON number or a string holding a decimal number, got boolean");
}

TEST_CASE("boolean takes only JSON true and false") {
  CHECK(v_hex(ColumnType::Boolean, "true") == "01");
  CHECK(v_hex(ColumnType::Boolean, "false") == "00");
  CHECK(v_error(ColumnType::Boolean, "\"true\"") == "expected a JSON boolean, got string");
  CHECK(v_error(ColumnType::Boolean, "1") == "expected a JSON boolean, got number");
}

TEST_CASE("text is the unescaped JSON string, UTF-8 included") {
  CHECK(decode_v(ColumnType::Text, R"("plain")").field_text(0) == "plain");
  CHECK(decode_v(ColumnType::Text, R"("")").field_text(0) == "");
  CHECK(decode_v(ColumnType::Text, R"("q\"b\\s\/n\nt\t")").field_text(0) == "q\"b\\s/n\nt\t");
  CHECK(decode_v(ColumnType::Text, R"("\u00e9\ud83d\ude00")").field_text(0) == "\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(decode_v(ColumnType::Text, "\"caf\xc3\xa9\"").field_text(0) == "caf\xc3\xa9");
  CHECK(v_error(ColumnType::Text, "42") == "expected a JSON string, got number");
  CHECK(v_error(ColumnType::Text, "{}") == "expected a JSON string, got object");
}

TEST_CASE("text refuses NUL, which PostgreSQL text cannot hold") {
  CHECK(v_error(ColumnType::Text, R"("a\u0000b")") == "text must not contain NUL (\\u0000)");
}

TEST_CASE("uuid accepts hyphenated, bare, braced and upper-case forms") {
  const std::string expected = "12 3e 45 67 e8 9b 12 d3 a4 56 42 66 14 17 40 00";
  CHECK(v_hex(ColumnType::Uuid, R"("123e4567-e89b-12d3-a456-426614174000")") == expected);
  CHECK(v_hex(ColumnType::Uuid, R"("123E4567-E89B-12D3-A456-426614174000")") == expected);
  CHECK(v_hex(ColumnType::Uuid, R"("123e4567e89b12d3a456426614174000")") == expected);
  CHECK(v_hex(ColumnType::Uuid, R"("{123e4567-e89b-12d3-a456-426614174000}")") == expected);

  CHECK(v_error(ColumnType::Uuid, R"("xyz")") == "invalid uuid \"xyz\"");
  CHECK(v_error(ColumnType::Uuid, R"("123e4567e-89b-12d3-a456-426614174000")") ==
        "invalid uuid \"123e4567e-89b-12d3-a456-426614174000\"");
  CHECK(v_error(ColumnType::Uuid, R"("123e4567-e89b-12d3-a456-42661417400g")") ==
        "invalid uuid \"123e4567-e89b-12d3-a456-42661417400g\"");
  CHECK(v_error(ColumnType::Uuid, R"("{123e4567-e89b-12d3-a456-426614174000")") ==
        "invalid uuid \"{123e4567-e89b-12d3-a456-426614174000\"");
  CHECK(v_error(ColumnType::Uuid, "1") == "expected a JSON string, got number");
}

TEST_CASE("date takes YYYY-MM-DD and knows leap years") {
  CHECK(v_hex(ColumnType::Date, R"("2000-01-01")") == "00 00 00 00");
  CHECK(v_hex(ColumnType::Date, R"("1999-12-31")") == "ff ff ff ff");
  CHECK(v_hex(ColumnType::Date, R"("2024-02-29")") == "00 00 22 79");  // day 8825
  CHECK(v_hex(ColumnType::Date, R"("2000-02-29")") == "00 00 00 3b");  // 2000 is a leap year
  CHECK(v_hex(ColumnType::Date, R"("0001-01-01")") == "ff f4 db f9");
  CHECK(v_hex(ColumnType::Date, R"("9999-12-31")") == "00 2c 95 d3");

  const std::string bad_day = ": day is out of range for the month";
  CHECK(v_error(ColumnType::Date, R"("2023-02-29")") == "invalid date \"2023-02-29\"" + bad_day);
  CHECK(v_error(ColumnType::Date, R"("1900-02-29")") == "invalid date \"1900-02-29\"" + bad_day);
  CHECK(v_error(ColumnType::Date, R"("2024-04-31")") == "invalid date \"2024-04-31\"" + bad_day);
  CHECK(v_error(ColumnType::Date, R"("2024-13-01")") == "invalid date \"2024-13-01\": month is out of range");
  CHECK(v_error(ColumnType::Date, R"("2024-00-10")") == "invalid date \"2024-00-10\": month is out of range");
  CHECK(v_error(ColumnType::Date, R"("0000-01-01")") == "invalid date \"0000-01-01\": year 0000 does not exist");
  CHECK(v_error(ColumnType::Date, R"("2024-1-01")") == "invalid date \"2024-1-01\": not of the form YYYY-MM-DD");
  CHECK(v_error(ColumnType::Date, R"("2024-01-01T00:00")") ==
        "invalid date \"2024-01-01T00:00\": not of the form YYYY-MM-DD");
  CHECK(v_error(ColumnType::Date, "20240101") == "expected a JSON string, got number");
}

TEST_CASE("timestamp takes ISO 8601 without an offset, or epoch milliseconds") {
  CHECK(v_hex(ColumnType::Timestamp, R"("2000-01-01T00:00:00")") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Timestamp, R"("2000-01-01 00:00:01.5")") == "00 00 00 00 00 16 e3 60");
  CHECK(v_hex(ColumnType::Timestamp, R"("2000-01-01t00:00")") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Timestamp, R"("2024-05-06T07:08:09.123456")") == "00 02 ba c2 80 1b 6a 80");
  CHECK(v_hex(ColumnType::Timestamp, R"("1999-12-31T23:59:59.999999")") == "ff ff ff ff ff ff ff ff");
  CHECK(v_hex(ColumnType::Timestamp, "946684800000") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Timestamp, "946684800001") == "00 00 00 00 00 00 03 e8");
  CHECK(v_hex(ColumnType::Timestamp, "1700000000000") == "00 02 ad 22 dc e6 60 00");

  CHECK(v_error(ColumnType::Timestamp, R"("2000-01-01T00:00:00Z")") ==
        "timestamp without time zone must not carry an offset: \"2000-01-01T00:00:00Z\"");
  CHECK(v_error(ColumnType::Timestamp, R"("2000-01-01T00:00:00+02:00")") ==
        "timestamp without time zone must not carry an offset: \"2000-01-01T00:00:00+02:00\"");
  CHECK(v_error(ColumnType::Timestamp, R"("2000-01-01T00:00:00.1234567")") ==
        "invalid timestamp \"2000-01-01T00:00:00.1234567\": more than 6 digits of fractional seconds");
  CHECK(v_error(ColumnType::Timestamp, R"("2000-01-01T24:00:00")") ==
        "invalid timestamp \"2000-01-01T24:00:00\": hour is out of range");
  CHECK(v_error(ColumnType::Timestamp, R"("2023-02-29T10:00:00")") ==
        "invalid timestamp \"2023-02-29T10:00:00\": day is out of range for the month");
  CHECK(v_error(ColumnType::Timestamp, R"("2024-01-01")") ==
        "invalid timestamp \"2024-01-01\": not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]");
  CHECK(v_error(ColumnType::Timestamp, "1.5") == "1.5 is not an integer number of epoch milliseconds");
  CHECK(v_error(ColumnType::Timestamp, "9223372036854775807") ==
        "9223372036854775807 epoch milliseconds is out of PostgreSQL's timestamp range");
  CHECK(v_error(ColumnType::Timestamp, "true") ==
        "expected an ISO 8601 string or integer epoch milliseconds, got boolean");
}

TEST_CASE("time takes HH:MM[:SS[.ffffff]] or integer microseconds of the day, up to 24:00:00") {
  CHECK(v_hex(ColumnType::Time, R"("12:34:56.789")") == "00 00 00 0a 8b e6 26 08");
  CHECK(v_hex(ColumnType::Time, R"("12:30")") == "00 00 00 0a 7a 35 82 00");
  CHECK(v_hex(ColumnType::Time, R"("00:00:00")") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Time, R"("00:00:00.000001")") == "00 00 00 00 00 00 00 01");
  CHECK(v_hex(ColumnType::Time, R"("24:00:00")") == "00 00 00 14 1d d7 60 00");
  CHECK(v_hex(ColumnType::Time, "45296789000") == "00 00 00 0a 8b e6 26 08");
  CHECK(v_hex(ColumnType::Time, "0") == "00 00 00 00 00 00 00 00");
  CHECK(v_hex(ColumnType::Time, "86400000000") == "00 00 00 14 1d d7 60 00");

  CHECK(v_error(ColumnType::Time, R"("24:00:00.000001")") == "invalid time \"24:00:00.000001\": is past 24:00:00");
  CHECK(v_error(ColumnType::Time, R"("25:00")") == "invalid time \"25:00\": hour is out of range");
  CHECK(v_error(ColumnType::Time, R"("12:60")") == "invalid time \"12:60\": minute is out of range");
  CHECK(v_error(ColumnType::Time, R"("12:00:60")") == "invalid time \"12:00:60\": second is out of range");
  CHECK(v_error(ColumnType::Time, R"("12:00:00.1234567")") ==
        "invalid time \"12:00:00.1234567\": more than 6 digits of fractional seconds");
  CHECK(v_error(ColumnType::Time, R"("1:00")") == "invalid time \"1:00\": not of the form HH:MM[:SS[.ffffff]]");
  CHECK(v_error(ColumnType::Time, R"("12:00:00Z")") ==
        "invalid time \"12:00:00Z\": not of the form HH:MM[:SS[.ffffff]]");
  CHECK(v_error(ColumnType::Time, R"("12:00:00.")") ==
        "invalid time \"12:00:00.\": not of the form HH:MM[:SS[.ffffff]]");
  CHECK(v_error(ColumnType::Time, "86400000001") ==
        "86400000001 is out of range for time (0 to 86400000000 microseconds of the day)");
  CHECK(v_error(ColumnType::Time, "-1") == "-1 is out of range for time (0 to 86400000000 microseconds of the day)");
  CHECK(v_error(ColumnType::Time, "1.5") == "1.5 is not an integer number of microseconds of the day");
  CHECK(v_error(ColumnType::Time, "99999999999999999999") == "99999999999999999999 is out of range for time");
  CHECK(v_error(ColumnType::Time, "true") ==
        "expected a string HH:MM[:SS[.ffffff]] or integer microseconds of the day, got boolean");
  CHECK(decode_v(ColumnType::Time, R"("25:00")").error->failure == DecodeFailure::InvalidValue);
  CHECK(decode_v(ColumnType::Time, "86400000001").error->failure == DecodeFailure::OutOfRange);
}

TEST_CASE("time in a key or header takes its text form or integer microseconds") {
  RecordView record = record_with("{}");
  const SinkConfig sink = sink_with({column("k", "@key", ColumnType::Time)});
  record.key = "12:30";
  CHECK(decode(sink, record).field_hex(0) == "00 00 00 0a 7a 35 82 00");
  record.key = "45296789000";
  CHECK(decode(sink, record).field_hex(0) == "00 00 00 0a 8b e6 26 08");
  record.key = "noon";
  CHECK(decode(sink, record).reason() == "@key: invalid time \"noon\": not of the form HH:MM[:SS[.ffffff]]");
}

TEST_CASE("timestamp_unit decides how a JSON integer timestamp is read: ms, us or ns") {
  SinkConfig sink = sink_with({column("v", "/v", ColumnType::TimestampTz, true)});
  const auto decode_unit = [&](TimestampUnit unit, std::string_view json) {
    sink.timestamp_unit = unit;
    return decode(sink, record_with("{\"v\": " + std::string(json) + "}"));
  };
  CHECK(decode_unit(TimestampUnit::Millis, "1700000000000").field_hex(0) == "00 02 ad 22 dc e6 60 00");
  CHECK(decode_unit(TimestampUnit::Micros, "1700000000000000").field_hex(0) == "00 02 ad 22 dc e6 60 00");
  CHECK(decode_unit(TimestampUnit::Micros, "1700000000123456").field_hex(0) == "00 02 ad 22 dc e8 42 40");
  CHECK(decode_unit(TimestampUnit::Nanos, "1700000000123456000").field_hex(0) == "00 02 ad 22 dc e8 42 40");
  CHECK(decode_unit(TimestampUnit::Micros, "946684800000000").field_hex(0) == "00 00 00 00 00 00 00 00");
  // ISO text does not depend on the unit.
  CHECK(decode_unit(TimestampUnit::Nanos, R"("2000-01-01T00:00:00Z")").field_hex(0) == "00 00 00 00 00 00 00 00");

  CHECK(decode_unit(TimestampUnit::Nanos, "1700000000123456789").reason() ==
        "1700000000123456789 epoch nanoseconds has a fraction of a microsecond, which PostgreSQL cannot hold");
  CHECK(decode_unit(TimestampUnit::Micros, "-9223372036854775807").reason() ==
        "-9223372036854775807 epoch microseconds is out of PostgreSQL's timestamp range");
  CHECK(decode_unit(TimestampUnit::Micros, "1.5").reason() == "1.5 is not an integer number of epoch microseconds");
  CHECK(decode_unit(TimestampUnit::Nanos, "true").reason() ==
        "expected an ISO 8601 string or integer epoch nanoseconds, got boolean");

  // The unit applies to the text form in a key too; the record's own timestamp stays milliseconds.
  sink = sink_with({column("k", "@key", ColumnType::TimestampTz), column("t", "@timestamp", ColumnType::TimestampTz)});
  sink.timestamp_unit = TimestampUnit::Micros;
  RecordView record = record_with("{}");
  record.key = "1700000000000000";
  record.timestamp_ms = 1700000000000;
  const Decoded decoded = decode(sink, record);
  CHECK(decoded.field_hex(0) == "00 02 ad 22 dc e6 60 00");
  CHECK(decoded.field_hex(1) == "00 02 ad 22 dc e6 60 00");
}

TEST_CASE("timestamptz applies the written offset, Z, or UTC when there is none") {
  const std::string epoch = "00 00 00 00 00 00 00 00";
  CHECK(v_hex(ColumnType::TimestampTz, R"("2000-01-01T00:00:00Z")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("2000-01-01T00:00:00z")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("2000-01-01T00:00:00")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("2000-01-01T01:00:00+01:00")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("2000-01-01T05:30+0530")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("1999-12-31T19:00:00-05")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("1999-12-31 19:00:00.000000-05:00")") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, R"("2024-05-06T09:08:09.123456+02:00")") == "00 02 ba c2 80 1b 6a 80");
  CHECK(v_hex(ColumnType::TimestampTz, "946684800000") == epoch);
  CHECK(v_hex(ColumnType::TimestampTz, "-1") == "ff fc a2 fe c4 c8 1c 18");  // 1969-12-31T23:59:59.999Z

  CHECK(v_error(ColumnType::TimestampTz, R"("2000-01-01T00:00:00+5")") ==
        "invalid timestamptz \"2000-01-01T00:00:00+5\": not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]");
  CHECK(v_error(ColumnType::TimestampTz, R"("2000-01-01T00:00:00+16:00")") ==
        "invalid timestamptz \"2000-01-01T00:00:00+16:00\": UTC offset is out of range");
  CHECK(v_error(ColumnType::TimestampTz, R"("2000-01-01T00:00:00 UTC")") ==
        "invalid timestamptz \"2000-01-01T00:00:00 UTC\": not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]");
  CHECK(v_error(ColumnType::TimestampTz, "1e3") == "1e3 is not an integer number of epoch milliseconds");
}

TEST_CASE("json and jsonb store the value's JSON text as written") {
  CHECK(decode_v(ColumnType::Json, R"({"a": [1, 2, {"b": null}]} )").field_text(0) == R"({"a": [1, 2, {"b": null}]})");
  CHECK(decode_v(ColumnType::Json, R"([1,"two",3.0e0])").field_text(0) == R"([1,"two",3.0e0])");
  CHECK(decode_v(ColumnType::Json, R"("line\nbreak")").field_text(0) == R"("line\nbreak")");
  CHECK(decode_v(ColumnType::Json, "12345678901234567890.5").field_text(0) == "12345678901234567890.5");
  CHECK(decode_v(ColumnType::Json, "true").field_text(0) == "true");
  CHECK(decode_v(ColumnType::Json, R"("a\u0000b")").field_text(0) == R"("a\u0000b")");

  CHECK(decode_v(ColumnType::Jsonb, R"({"k": "v"})").field_text(0) == std::string("\x01") + R"({"k": "v"})");
  CHECK(decode_v(ColumnType::Jsonb, "[]").field_text(0) == "\x01[]");
  CHECK(decode_v(ColumnType::Jsonb, R"("s")").field_text(0) == "\x01\"s\"");
  CHECK(decode_v(ColumnType::Jsonb, "-1.5e3").field_text(0) == "\x01-1.5e3");
}

TEST_CASE("jsonb refuses what PostgreSQL's jsonb would refuse") {
  CHECK(v_error(ColumnType::Jsonb, R"({"a": "x\u0000"})") == "jsonb cannot store \\u0000 in a string");
  CHECK(v_error(ColumnType::Jsonb, R"([1e999999])") ==
        "holds a number beyond the range of numeric, which jsonb stores numbers as");
  CHECK(decode_v(ColumnType::Jsonb, R"({"a": "x\\u0000"})").ok());  // an escaped backslash, not NUL
}

TEST_CASE("bytea takes standard padded base64") {
  CHECK(decode_v(ColumnType::Bytea, R"("aGVsbG8=")").field_text(0) == "hello");
  CHECK(decode_v(ColumnType::Bytea, R"("aGVsbG8h")").field_text(0) == "hello!");
  CHECK(decode_v(ColumnType::Bytea, R"("aGk=")").field_text(0) == "hi");
  CHECK(decode_v(ColumnType::Bytea, R"("aA==")").field_text(0) == "h");
  CHECK(decode_v(ColumnType::Bytea, R"("")").field_text(0) == "");
  CHECK(v_hex(ColumnType::Bytea, R"("AP8=")") == "00 ff");

  CHECK(v_error(ColumnType::Bytea, R"("aGVsbG8")") == "invalid base64 \"aGVsbG8\": length is not a multiple of 4");
  CHECK(v_error(ColumnType::Bytea, R"("aGVs*G8=")") == "invalid base64 \"aGVs*G8=\": invalid character");
  CHECK(v_error(ColumnType::Bytea, R"("aG=sbG8=")") == "invalid base64 \"aG=sbG8=\": misplaced '=' padding");
  CHECK(v_error(ColumnType::Bytea, R"("aGVs bG8=")") == "invalid base64 \"aGVs bG8=\": length is not a multiple of 4");
  CHECK(v_error(ColumnType::Bytea, R"("aGVsbG8-")") == "invalid base64 \"aGVsbG8-\": invalid character");
  CHECK(v_error(ColumnType::Bytea, "[1]") == "expected a JSON string, got array");
}

TEST_CASE("a missing or null value is NULL in a nullable column and a bad record otherwise") {
  const SinkConfig nullable = sink_with({column("v", "/v", ColumnType::Text, true)});
  CHECK(decode(nullable, record_with("{}")).field_hex(0) == "NULL");
  CHECK(decode(nullable, record_with(R"({"v": null})")).field_hex(0) == "NULL");

  const SinkConfig required = sink_with({column("v", "/v", ColumnType::Text)});
  const Decoded missing = decode(required, record_with(R"({"w": 1})"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error->column == "v");
  CHECK(missing.error->reason == "missing non-nullable value");

  const Decoded null = decode(required, record_with(R"({"v": null})"));
  REQUIRE_FALSE(null.ok());
  CHECK(null.error->column == "v");
  CHECK(null.error->reason == "null in non-nullable column");
}

TEST_CASE("columns are filled in column order whatever the order of the JSON fields") {
  const SinkConfig sink = sink_with({column("ts", "/ts", ColumnType::BigInt), column("id", "/id", ColumnType::BigInt),
                                     column("name", "/name", ColumnType::Text)});
  const Decoded decoded = decode(sink, record_with(R"({"name": "n", "id": 1, "extra": [1, {"x": 2}], "ts": 2})"));
  CHECK(decoded.field_hex(0) == "00 00 00 00 00 00 00 02");
  CHECK(decoded.field_hex(1) == "00 00 00 00 00 00 00 01");
  CHECK(decoded.field_text(2) == "n");
  CHECK(hex(std::string_view(decoded.tuple).substr(0, 2)) == "00 03");
}

TEST_CASE("JSON pointers reach nested members, escaped names and array elements") {
  const SinkConfig sink = sink_with({
      column("device", "/device/id", ColumnType::Text),
      column("slash", "/a~1b", ColumnType::BigInt),
      column("tilde", "/m~0n", ColumnType::BigInt),
      column("first", "/list/0", ColumnType::BigInt),
      column("second", "/list/1/x", ColumnType::BigInt),
      column("past_end", "/list/5", ColumnType::BigInt, true),
      column("through_scalar", "/device/id/deeper", ColumnType::BigInt, true),
      column("name_not_index", "/list/x", ColumnType::BigInt, true),
      column("digit_key", "/obj/0", ColumnType::BigInt),
      column("empty_key", "/", ColumnType::BigInt),
  });
  const Decoded decoded = decode(sink, record_with(R"({
      "device": {"id": "d-1"}, "a/b": 1, "m~n": 2, "list": [10, {"x": 20}],
      "obj": {"0": 30}, "": 40})"));
  CHECK(decoded.field_text(0) == "d-1");
  CHECK(decoded.field_hex(1) == "00 00 00 00 00 00 00 01");
  CHECK(decoded.field_hex(2) == "00 00 00 00 00 00 00 02");
  CHECK(decoded.field_hex(3) == "00 00 00 00 00 00 00 0a");
  CHECK(decoded.field_hex(4) == "00 00 00 00 00 00 00 14");
  CHECK(decoded.field_hex(5) == "NULL");
  CHECK(decoded.field_hex(6) == "NULL");
  CHECK(decoded.field_hex(7) == "NULL");
  CHECK(decoded.field_hex(8) == "00 00 00 00 00 00 00 1e");
  CHECK(decoded.field_hex(9) == "00 00 00 00 00 00 00 28");
}

TEST_CASE("an empty pointer stores the whole record") {
  const SinkConfig sink = sink_with({column("doc", "", ColumnType::Jsonb)});
  CHECK(decode(sink, record_with(R"( {"a": 1} )")).field_text(0) == "\x01{\"a\": 1}");
}

TEST_CASE("record metadata fills @topic, @partition, @offset and @timestamp columns") {
  const SinkConfig sink = sink_with({
      column("topic", "@topic", ColumnType::Text),
      column("partition_small", "@partition", ColumnType::SmallInt),
      column("partition_int", "@partition", ColumnType::Integer),
      column("partition_text", "@partition", ColumnType::Text),
      column("offset", "@offset", ColumnType::BigInt),
      column("offset_numeric", "@offset", ColumnType::Numeric),
      column("offset_text", "@offset", ColumnType::Text),
      column("ts", "@timestamp", ColumnType::TimestampTz),
      column("ts_local", "@timestamp", ColumnType::Timestamp),
      column("ts_millis", "@timestamp", ColumnType::BigInt),
  });
  const Decoded decoded = decode(sink, record_with("{}"));
  CHECK(decoded.field_text(0) == "events");
  CHECK(decoded.field_hex(1) == "00 03");
  CHECK(decoded.field_hex(2) == "00 00 00 03");
  CHECK(decoded.field_text(3) == "3");
  CHECK(decoded.field_hex(4) == "00 00 00 00 00 00 00 2a");
  CHECK(decoded.field_hex(5) == "00 01 00 00 00 00 00 00 00 2a");
  CHECK(decoded.field_text(6) == "42");
  CHECK(decoded.field_hex(7) == "00 02 ad 22 dc e6 60 00");
  CHECK(decoded.field_hex(8) == "00 02 ad 22 dc e6 60 00");
  CHECK(decoded.field_hex(9) == "00 00 01 8b cf e5 68 00");  // 1700000000000
}

TEST_CASE("a record without a timestamp gives NULL, or a bad record when the column is required") {
  RecordView record = record_with("{}");
  record.timestamp_ms = std::nullopt;
  CHECK(decode(sink_with({column("ts", "@timestamp", ColumnType::TimestampTz, true)}), record).field_hex(0) == "NULL");
  CHECK(decode(sink_with({column("ts", "@timestamp", ColumnType::TimestampTz)}), record).reason() ==
        "missing non-nullable value");
}

TEST_CASE("@key gives bytea the raw bytes, json the validated text, other types the parsed text form") {
  RecordView record = record_with("{}");
  record.key = std::string_view("\x00\xff{\"k\"", 6);
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Bytea)}), record).field_hex(0) == "00 ff 7b 22 6b 22");

  record.key = R"({"id": 7})";
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Jsonb)}), record).field_text(0) == "\x01{\"id\": 7}");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Json)}), record).field_text(0) == R"({"id": 7})");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Text)}), record).field_text(0) == R"({"id": 7})");

  record.key = R"({"id": 7)";
  const Decoded bad_json = decode(sink_with({column("k", "@key", ColumnType::Jsonb)}), record);
  REQUIRE_FALSE(bad_json.ok());
  CHECK(bad_json.error->column == "k");
  CHECK(bad_json.reason().rfind("@key: invalid JSON: ", 0) == 0);

  record.key = "42";
  CHECK(decode(sink_with({column("k", "@key", ColumnType::BigInt)}), record).field_hex(0) == "00 00 00 00 00 00 00 2a");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Numeric)}), record).field_hex(0) ==
        "00 01 00 00 00 00 00 00 00 2a");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Double)}), record).field_hex(0) ==
        "40 45 00 00 00 00 00 00");

  record.key = "abc";
  CHECK(decode(sink_with({column("k", "@key", ColumnType::BigInt)}), record).reason() ==
        "@key: invalid bigint \"abc\"");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Boolean)}), record).reason() ==
        "@key: invalid boolean \"abc\"");

  record.key = "123e4567-e89b-12d3-a456-426614174000";
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Uuid)}), record).field_hex(0) ==
        "12 3e 45 67 e8 9b 12 d3 a4 56 42 66 14 17 40 00");

  record.key = "2024-05-06T09:08:09.123456+02:00";
  CHECK(decode(sink_with({column("k", "@key", ColumnType::TimestampTz)}), record).field_hex(0) ==
        "00 02 ba c2 80 1b 6a 80");

  record.key = std::string_view("bad\xff", 4);
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Text)}), record).reason() ==
        "@key: text is not valid UTF-8: \"bad\\xff\"");

  record.key = std::nullopt;
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Text, true)}), record).field_hex(0) == "NULL");
  CHECK(decode(sink_with({column("k", "@key", ColumnType::Text)}), record).reason() == "null in non-nullable column");
}

TEST_CASE("@header:NAME takes the first header of that name, converted like @key") {
  const RecordHeader headers[] = {
      {"trace", std::string_view("t-1")},
      {"count", std::string_view("17")},
      {"trace", std::string_view("t-2")},
      {"gone", std::nullopt},
      {"payload", std::string_view(R"([1, 2])")},
  };
  RecordView record = record_with("{}");
  record.headers = headers;
  const SinkConfig sink = sink_with({
      column("trace", "@header:trace", ColumnType::Text),
      column("count", "@header:count", ColumnType::Integer),
      column("gone", "@header:gone", ColumnType::Text, true),
      column("absent", "@header:absent", ColumnType::Text, true),
      column("payload", "@header:payload", ColumnType::Jsonb),
  });
  const Decoded decoded = decode(sink, record);
  CHECK(decoded.field_text(0) == "t-1");
  CHECK(decoded.field_hex(1) == "00 00 00 11");
  CHECK(decoded.field_hex(2) == "NULL");
  CHECK(decoded.field_hex(3) == "NULL");
  CHECK(decoded.field_text(4) == "\x01[1, 2]");

  CHECK(decode(sink_with({column("absent", "@header:absent", ColumnType::Text)}), record).reason() ==
        "missing non-nullable value");
  CHECK(decode(sink_with({column("gone", "@header:gone", ColumnType::Text)}), record).reason() ==
        "null in non-nullable column");
  CHECK(decode(sink_with({column("trace", "@header:trace", ColumnType::BigInt)}), record).reason() ==
        "@header:trace: invalid bigint \"t-1\"");
}

TEST_CASE("a value that is not valid JSON is a record-level error") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  for (const char* value : {"", "{", "{\"id\": 1", "{\"id\": 1,}", "{\"id\": 1} x", "{\"id\": 1}}", "{\"id\" 1}",
                            "{\"id\": 1 \"x\": 2}", "{id: 1}", "{\"id\": 1, \"x\": tru}", "{\"id\": 1, \"x\": 01}",
                            "{\"id\": 1, \"x\": 1.}", "{\"id\": 1, \"x\": [1, 2,]}", "{\"id\": 1, \"x\": \"\\q\"}",
                            "{\"id\": 1, \"x\": \"a\tb\"}", "{\"id\": 1, \"x\": \"\xff\"}", "{\"id\": 1, \"x\": nul}",
                            "{\"id\": 1, \"x\": {\"y\": [}]}", "{\"id\": 1, \"x\": \"\\ud800\"}"}) {
    CAPTURE(value);
    const Decoded decoded = decode(sink, record_with(value));
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error->column.empty());
    CHECK(decoded.error->reason.rfind("invalid JSON: ", 0) == 0);
  }
}

TEST_CASE("invalid JSON messages say what is wrong") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  CHECK(decode(sink, record_with("{\"id\": 1} {\"id\": 2}")).reason() ==
        "invalid JSON: unexpected content after the top-level value");
  CHECK(decode(sink, record_with("{\"id\": 1, \"x\": 12abc}")).reason() == "invalid JSON: malformed number \"12abc\"");
  CHECK(decode(sink, record_with("")).reason() == "invalid JSON: Empty: no JSON found");
}

TEST_CASE("a record nested deeper than 1024 levels is invalid JSON") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  const std::string deep = "{\"id\": 1, \"x\": " + std::string(1100, '[') + std::string(1100, ']') + "}";
  const Decoded decoded = decode(sink, record_with(deep));
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error->column.empty());
  CHECK(decoded.error->reason.rfind("invalid JSON: ", 0) == 0);

  // The object is level 1, so 1023 brackets inside it reach exactly 1024 levels.
  const auto nested = [](size_t brackets) {
    return "{\"id\": 1, \"x\": " + std::string(brackets, '[') + std::string(brackets, ']') + "}";
  };
  CHECK(decode(sink, record_with(nested(1023))).ok());
  CHECK(decode(sink, record_with(nested(1024))).reason() == "invalid JSON: nested deeper than 1024 levels");
}

TEST_CASE("a value that is JSON but not an object is a record-level error") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  const std::pair<const char*, const char*> cases[] = {
      {"[1, 2]", "value is not a JSON object (it is a JSON array)"},
      {"42", "value is not a JSON object (it is a JSON number)"},
      {"\"text\"", "value is not a JSON object (it is a JSON string)"},
      {"null", "value is not a JSON object (it is a JSON null)"},
      {"true", "value is not a JSON object (it is a JSON boolean)"},
  };
  for (const auto& [value, reason] : cases) {
    CAPTURE(value);
    const Decoded decoded = decode(sink, record_with(value));
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error->column.empty());
    CHECK(decoded.error->reason == reason);
  }
  CHECK(decode(sink, record_with(std::nullopt)).reason() == "the record has no value (it is a tombstone)");
}

TEST_CASE("a failed decode leaves the buffer exactly as it was") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt), column("name", "/name", ColumnType::Text),
                                     column("n", "/n", ColumnType::SmallInt)});
  Decoder decoder(sink);
  CopyBuffer buffer;
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id": 1, "name": "a", "n": 1})"), buffer).has_value());
  const std::string before(buffer.view());

  // The first two columns encode before the third fails.
  const auto error = decoder.decode_value(record_with(R"({"id": 2, "name": "b", "n": 99999})"), buffer);
  REQUIRE(error.has_value());
  CHECK(error->column == "n");
  CHECK(error->reason == "99999 is out of range for smallint");
  CHECK(buffer.view() == before);

  REQUIRE(decoder.decode_tombstone_key(record_with(std::nullopt), buffer).has_value());
  CHECK(buffer.view() == before);

  // And the decoder is still fine afterwards.
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id": 3, "name": "c", "n": 3})"), buffer).has_value());
  CHECK(tuple_field(buffer.view().substr(before.size()), 1) == "c");
}

TEST_CASE("tombstone keys written as a JSON object name the primary-key columns") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt), column("name", "/name", ColumnType::Text),
                                     column("region", "/region", ColumnType::Text)},
                                    {"region", "id"});
  const Decoded decoded = decode_tombstone(sink, R"({"id": 7, "region": "eu", "ignored": true})");
  CHECK(decoded.field_hex(0) == "00 00 00 00 00 00 00 07");
  CHECK(decoded.field_hex(1) == "NULL");
  CHECK(decoded.field_text(2) == "eu");

  const Decoded missing = decode_tombstone(sink, R"({"id": 7})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error->column == "region");
  CHECK(missing.error->reason == "the tombstone's key has no value for this primary-key column");

  const Decoded wrong_type = decode_tombstone(sink, R"({"id": "seven", "region": "eu"})");
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(wrong_type.error->column == "id");
  CHECK(wrong_type.error->reason == "tombstone key: expected a JSON integer, got string");

  const Decoded bare = decode_tombstone(sink, "7");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error->reason ==
        "the tombstone's key is not a JSON object, so it cannot name the 2 columns of the primary key");
}

TEST_CASE("a tombstone key object may hold a primary-key column at its value pointer") {
  const SinkConfig sink = sink_with({column("device_id", "/device/id", ColumnType::Text)}, {"device_id"});
  CHECK(decode_tombstone(sink, R"({"device_id": "by-name"})").field_text(0) == "by-name");
  CHECK(decode_tombstone(sink, R"({"device": {"id": "by-pointer"}})").field_text(0) == "by-pointer");
}

TEST_CASE("a one-column key may be the bare value, JSON or not") {
  const SinkConfig bigint_key =
      sink_with({column("id", "/id", ColumnType::BigInt), column("v", "/v", ColumnType::Text)}, {"id"});
  CHECK(decode_tombstone(bigint_key, "42").field_hex(0) == "00 00 00 00 00 00 00 2a");
  CHECK(decode_tombstone(bigint_key, " 42 ").field_hex(0) == "00 00 00 00 00 00 00 2a");
  CHECK(decode_tombstone(bigint_key, "\"42\"").field_hex(0) == "00 00 00 00 00 00 00 2a");
  CHECK(decode_tombstone(bigint_key, "42").field_hex(1) == "NULL");
  const Decoded bad = decode_tombstone(bigint_key, "abc");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error->column == "id");
  CHECK(bad.error->reason == "tombstone key: invalid bigint \"abc\"");

  const SinkConfig text_key = sink_with({column("id", "/id", ColumnType::Text)}, {"id"});
  CHECK(decode_tombstone(text_key, "abc").field_text(0) == "abc");
  CHECK(decode_tombstone(text_key, "\"abc\"").field_text(0) == "abc");
  CHECK(decode_tombstone(text_key, "42").field_text(0) == "42");
  CHECK(decode_tombstone(text_key, "").field_text(0) == "");

  const SinkConfig uuid_key = sink_with({column("id", "/id", ColumnType::Uuid)}, {"id"});
  CHECK(decode_tombstone(uuid_key, "123e4567-e89b-12d3-a456-426614174000").field_hex(0) ==
        "12 3e 45 67 e8 9b 12 d3 a4 56 42 66 14 17 40 00");
}

TEST_CASE("a tombstone without a key is an error") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)}, {"id"});
  const Decoded decoded = decode_tombstone(sink, std::nullopt);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error->column.empty());
  CHECK(decoded.error->reason == "tombstone without a key");
}

TEST_CASE("tombstone primary-key columns from record metadata get what the row got") {
  const SinkConfig sink = sink_with({column("k", "@key", ColumnType::Text),
                                     column("p", "@partition", ColumnType::Integer),
                                     column("v", "/v", ColumnType::Text)},
                                    {"k", "p"});
  const Decoded decoded = decode_tombstone(sink, R"({"k": "x"})");
  CHECK(decoded.field_text(0) == R"({"k": "x"})");
  CHECK(decoded.field_hex(1) == "00 00 00 03");
  CHECK(decoded.field_hex(2) == "NULL");
}

TEST_CASE("decoding allocates nothing per record once warm") {
  const RecordHeader headers[] = {{"trace", std::string_view("trace-id-000000000001")}};
  const SinkConfig sink = sink_with({
      column("id", "/id", ColumnType::BigInt),
      column("device", "/device/id", ColumnType::Text),
      column("long_escaped", "/a~1very~0long~1member~1name~1beyond~1sso", ColumnType::Text),
      column("ts", "/ts", ColumnType::TimestampTz),
      column("amount", "/amount", ColumnType::Numeric),
      column("uid", "/uid", ColumnType::Uuid),
      column("blob", "/blob", ColumnType::Bytea),
      column("payload", "/payload", ColumnType::Jsonb),
      column("first", "/list/0", ColumnType::Double),
      column("missing", "/missing", ColumnType::Text, true),
      column("topic", "@topic", ColumnType::Text),
      column("key", "@key", ColumnType::Jsonb),
      column("trace", "@header:trace", ColumnType::Text),
  });
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) {
    values.push_back(R"({"id": )" + std::to_string(i) +
                     R"(, "device": {"id": "device-with-a-long-name-)" + std::to_string(i) +
                     R"("}, "a/very~long/member/name/beyond/sso": "text with \"escapes\" \u00e9",)"
                     R"( "ts": "2024-05-06T09:08:09.123456+02:00", "amount": 12345.6789,)"
                     R"( "uid": "123e4567-e89b-12d3-a456-426614174000", "blob": "aGVsbG8gd29ybGQ=",)"
                     R"( "payload": {"nested": [1, 2, {"deep": true}]}, "list": [1.5, 2.5]})");
  }
  Decoder decoder(sink);
  CopyBuffer buffer;
  RecordView record = record_with(values[0]);
  record.key = R"({"id": 1})";
  record.headers = headers;
  for (int round = 0; round < 2; ++round) {  // warm up: buffers grow to their working size
    for (const std::string& value : values) {
      record.value = value;
      REQUIRE_FALSE(decoder.decode_value(record, buffer).has_value());
    }
    buffer.clear();
  }

  const long before = g_allocations.load();
  bool all_ok = true;
  for (const std::string& value : values) {
    record.value = value;
    all_ok = all_ok && !decoder.decode_value(record, buffer).has_value();
  }
  const long allocations = g_allocations.load() - before;
  CHECK(all_ok);
  CHECK(allocations == 0);
}

TEST_CASE("Debezium decoding allocates nothing per record once warm, schema wrapper and TOAST mask included") {
  SinkConfig route = sink_with({
                                   column("id", "/id", ColumnType::BigInt, true),
                                   column("name", "/name", ColumnType::Text, true),
                                   column("notes", "/notes", ColumnType::Text, true),
                                   column("price", "/price", ColumnType::Numeric, true),
                                   column("seen", "/seen", ColumnType::TimestampTz, true),
                                   column("day", "/day", ColumnType::Date, true),
                                   column("doc", "/doc", ColumnType::Jsonb, true),
                               },
                               {"id"});
  route.format = RecordFormat::Debezium;
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) {
    const std::string after = R"({"id": )" + std::to_string(i) +
                              R"(, "name": "a name long enough to leave the small string buffer", "notes": )" +
                              (i % 2 == 0 ? R"("__debezium_unavailable_value")" : R"("plain")") +
                              R"(, "price": "Ap1Ctk52cUJEyw==", "seen": 1700000000123456, "day": 19000,)"
                              R"( "doc": "{\"k\": [1, 2]}", "extra": 1})";
    values.push_back(R"({"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [)"
                     R"({"type": "int64", "field": "id"}, {"type": "string", "field": "name"},)"
                     R"({"type": "string", "field": "notes"},)"
                     R"({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "5"}, "field": "price"},)"
                     R"({"type": "int64", "name": "io.debezium.time.MicroTimestamp", "field": "seen"},)"
                     R"({"type": "int32", "name": "io.debezium.time.Date", "field": "day"},)"
                     R"({"type": "string", "name": "io.debezium.data.Json", "field": "doc"}]}]},)"
                     R"( "payload": {"before": null, "after": )" +
                     after + R"(, "source": {"connector": "postgresql"}, "op": "u", "ts_ms": 1}})");
  }
  DebeziumDecoder decoder(route);
  CopyBuffer buffer;
  RecordView record = record_with(values[0]);
  record.key = R"({"schema": {"type": "struct", "fields": [{"type": "int64", "field": "id"}]}, "payload": {"id": 1}})";
  const auto decode_all = [&] {
    bool all_ok = true;
    for (const std::string& value : values) {
      record.value = value;
      all_ok = all_ok && std::holds_alternative<DecodedChange>(decoder.decode(record, buffer));
    }
    return all_ok;
  };
  for (int round = 0; round < 2; ++round) {  // warm up: buffers grow to their working size
    REQUIRE(decode_all());
    buffer.clear();
  }
  const long before = g_allocations.load();
  const bool all_ok = decode_all();
  const long allocations = g_allocations.load() - before;
  CHECK(all_ok);
  CHECK(allocations == 0);
}

TEST_CASE("decoder gives a record's dedup identity from the raw JSON of its dedup fields") {
  SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  sink.dedup = DedupConfig{{"/event_id", "/source/region"}, std::chrono::seconds(60)};
  Decoder decoder(sink);
  CopyBuffer buffer;
  std::string first;
  std::string second;
  std::string other;
  std::string missing = "stale";
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id":1,"event_id":"e-1","source":{"region":[1, 2]}})"), buffer, &first));
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"source":{"region":[1, 2]},"event_id":"e-1" ,"id":2})"), buffer, &second));
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id":1,"event_id":"e-2","source":{"region":[1, 2]}})"), buffer, &other));
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id":1,"event_id":null,"source":{"region":1}})"), buffer, &missing));
  CHECK_FALSE(first.empty());
  CHECK(first == second);  // field order and whitespace between fields do not matter
  CHECK(first != other);
  CHECK(first.find("\"e-1\"") != std::string::npos);
  CHECK(missing.empty());  // a null field: no identity, so the record is never dropped
}

namespace {

std::string identity_of(Decoder& decoder, std::string_view json) {
  CopyBuffer buffer;
  std::string identity;
  REQUIRE_FALSE(decoder.decode_value(record_with(json), buffer, &identity).has_value());
  return identity;
}

}  // namespace

TEST_CASE("a dedup field holding a number is one identity whatever the number's spelling") {
  SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  sink.dedup = DedupConfig{{"/event_id"}, std::chrono::seconds(60)};
  Decoder decoder(sink);
  const std::string one = identity_of(decoder, R"({"id":1,"event_id":1})");
  for (const char* spelling : {"1.0", "1.00", "1e0", "10e-1", "0.1E1"}) {
    INFO(spelling);
    CHECK(identity_of(decoder, std::string(R"({"id":1,"event_id":)") + spelling + "}") == one);
  }
  CHECK(identity_of(decoder, R"({"id":1,"event_id":-0.0})") == identity_of(decoder, R"({"id":1,"event_id":0})"));
  CHECK(identity_of(decoder, R"({"id":1,"event_id":1.5e3})") == identity_of(decoder, R"({"id":1,"event_id":1500})"));
  // Exact values, never rounded like a double would be.
  CHECK(identity_of(decoder, R"({"id":1,"event_id":12345678901234567890123})") !=
        identity_of(decoder, R"({"id":1,"event_id":12345678901234567890124})"));
  CHECK(identity_of(decoder, R"({"id":1,"event_id":1.0000000000000000001})") != one);
  // A number and a string of the same characters are different JSON values.
  CHECK(identity_of(decoder, R"({"id":1,"event_id":"1"})") != one);
  // A number written canonically keeps the bytes identities had before canonical forms,
  // so identities already in the store still match after an upgrade.
  CHECK(one == std::string("\x01\0\0\0" "1", 5));
}

TEST_CASE("a dedup field holding a string is one identity whatever escapes spell it") {
  SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  sink.dedup = DedupConfig{{"/event_id"}, std::chrono::seconds(60)};
  Decoder decoder(sink);
  const std::string plain = identity_of(decoder, R"({"id":1,"event_id":"Ae/1"})");
  CHECK(identity_of(decoder, R"({"id":1,"event_id":"\u0041e\/1"})") == plain);
  CHECK(identity_of(decoder, R"({"id":1,"event_id":"ae/1"})") != plain);  // strings are case-sensitive
  CHECK(plain == std::string("\x06\0\0\0" "\"Ae/1\"", 10));  // as before: quotes and content
  // true/false as written; an object or array by its JSON text as written.
  CHECK(identity_of(decoder, R"({"id":1,"event_id":true})") != identity_of(decoder, R"({"id":1,"event_id":"true"})"));
  CHECK(identity_of(decoder, R"({"id":1,"event_id":[1,2]})") == identity_of(decoder, R"({"id":1,"event_id": [1,2] })"));
}

TEST_CASE("simdjson_version reports the linked simdjson") {
  CHECK(std::string(simdjson_version()) == "3.0.1");
}

}  // namespace kps
