#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "connector/copy_encoder.h"
#include "connector/value_text.h"

namespace kps {
namespace {

/// "00 00 00 08 ...": byte strings compared as text give readable failures.
std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (!out.empty()) out += ' ';
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xF];
  }
  return out;
}

/// The value bytes one append_* call writes, after its int32 length.
std::string value_bytes(const std::function<void(CopyBuffer&)>& append) {
  CopyBuffer buffer;
  append(buffer);
  REQUIRE(buffer.size() >= 4);
  return std::string(buffer.view().substr(4));
}

std::string numeric(std::string_view text) {
  CopyBuffer buffer;
  REQUIRE(buffer.append_numeric(text));
  const std::string_view bytes = buffer.view();
  // The length prefix must match what follows it.
  REQUIRE(hex(bytes.substr(0, 4)) == hex(std::string({0, 0, 0, static_cast<char>(bytes.size() - 4)})));
  return hex(bytes.substr(4));
}

}  // namespace

TEST_CASE("the binary COPY header and trailer are the bytes PostgreSQL expects") {
  CHECK(hex(copy_stream_header()) == "50 47 43 4f 50 59 0a ff 0d 0a 00 00 00 00 00 00 00 00 00");
  CHECK(hex(copy_stream_trailer()) == "ff ff");
}

TEST_CASE("each fixed-width append writes a big-endian length and a big-endian value") {
  CopyBuffer buffer;
  buffer.append_int64(1);
  CHECK(hex(buffer.view()) == "00 00 00 08 00 00 00 00 00 00 00 01");

  buffer.clear();
  buffer.append_int64(-2);
  CHECK(hex(buffer.view()) == "00 00 00 08 ff ff ff ff ff ff ff fe");

  buffer.clear();
  buffer.append_int32(0x01020304);
  CHECK(hex(buffer.view()) == "00 00 00 04 01 02 03 04");

  buffer.clear();
  buffer.append_int16(-32768);
  CHECK(hex(buffer.view()) == "00 00 00 02 80 00");

  buffer.clear();
  buffer.append_float32(1.5f);
  CHECK(hex(buffer.view()) == "00 00 00 04 3f c0 00 00");

  buffer.clear();
  buffer.append_float64(1.5);
  CHECK(hex(buffer.view()) == "00 00 00 08 3f f8 00 00 00 00 00 00");

  buffer.clear();
  buffer.append_float64(-0.0);
  CHECK(hex(buffer.view()) == "00 00 00 08 80 00 00 00 00 00 00 00");

  buffer.clear();
  buffer.append_bool(true);
  buffer.append_bool(false);
  CHECK(hex(buffer.view()) == "00 00 00 01 01 00 00 00 01 00");

  buffer.clear();
  buffer.append_date(-1);
  CHECK(hex(buffer.view()) == "00 00 00 04 ff ff ff ff");

  buffer.clear();
  buffer.append_timestamp(1500000);
  CHECK(hex(buffer.view()) == "00 00 00 08 00 00 00 00 00 16 e3 60");

  buffer.clear();
  buffer.append_null();
  CHECK(hex(buffer.view()) == "ff ff ff ff");
}

TEST_CASE("variable-width appends write the byte count then the bytes") {
  CopyBuffer buffer;
  buffer.append_bytes("abc");
  CHECK(hex(buffer.view()) == "00 00 00 03 61 62 63");

  buffer.clear();
  buffer.append_bytes("");
  CHECK(hex(buffer.view()) == "00 00 00 00");

  buffer.clear();
  buffer.append_bytes(std::string_view("\0\xff", 2));
  CHECK(hex(buffer.view()) == "00 00 00 02 00 ff");

  buffer.clear();
  buffer.append_jsonb("{}");
  CHECK(hex(buffer.view()) == "00 00 00 03 01 7b 7d");

  buffer.clear();
  buffer.append_uuid({0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00});
  CHECK(hex(buffer.view()) == "00 00 00 10 12 3e 45 67 e8 9b 12 d3 a4 56 42 66 14 17 40 00");
}

TEST_CASE("begin_tuple writes the field count and tuples follow one another") {
  CopyBuffer buffer;
  buffer.begin_tuple(2);
  buffer.append_int16(1);
  buffer.append_null();
  buffer.begin_tuple(1);
  buffer.append_bool(true);
  CHECK(hex(buffer.view()) == "00 02 00 00 00 02 00 01 ff ff ff ff 00 01 00 00 00 01 01");
}

TEST_CASE("a COPY body is sent in pieces no larger than the chunk size, in order and whole") {
  std::string body(static_cast<size_t>(2.5 * kCopySendChunkBytes), '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i % 251);
  std::string_view rest = body;
  std::vector<size_t> sizes;
  std::string joined;
  while (!rest.empty()) {
    const std::string_view chunk = take_copy_chunk(rest);
    sizes.push_back(chunk.size());
    joined.append(chunk);
  }
  CHECK(sizes == std::vector<size_t>{kCopySendChunkBytes, kCopySendChunkBytes, kCopySendChunkBytes / 2});
  CHECK(joined == body);
  // Every piece fits libpq's int size, whatever the batch.
  CHECK(kCopySendChunkBytes <= static_cast<size_t>(std::numeric_limits<int>::max()));

  std::string_view small = "abcdefg";
  CHECK(take_copy_chunk(small, 3) == "abc");
  CHECK(take_copy_chunk(small, 3) == "def");
  CHECK(take_copy_chunk(small, 3) == "g");
  CHECK(small.empty());
  CHECK(take_copy_chunk(small, 3).empty());
}

TEST_CASE("truncate drops a half-written tuple and keeps what came before") {
  CopyBuffer buffer;
  buffer.begin_tuple(1);
  buffer.append_int32(7);
  const std::string before(buffer.view());
  const size_t size = buffer.size();
  buffer.begin_tuple(2);
  buffer.append_int32(8);
  buffer.truncate(size);
  CHECK(buffer.view() == before);
}

TEST_CASE("numeric is encoded in PostgreSQL's base-10000 send format") {
  // Expected bytes are numeric_send() output from PostgreSQL 15:
  // ndigits, weight, sign, dscale, then the base-10000 digits.
  CHECK(numeric("0") == "00 00 00 00 00 00 00 00");
  CHECK(numeric("1") == "00 01 00 00 00 00 00 00 00 01");
  CHECK(numeric("-1") == "00 01 00 00 40 00 00 00 00 01");
  CHECK(numeric("10000") == "00 01 00 01 00 00 00 00 00 01");
  CHECK(numeric("0.0001") == "00 01 ff ff 00 00 00 04 00 01");
  CHECK(numeric("123.4500") == "00 02 00 00 00 00 00 04 00 7b 11 94");
  CHECK(numeric("1e3") == "00 01 00 00 00 00 00 00 03 e8");
  CHECK(numeric("1E+3") == "00 01 00 00 00 00 00 00 03 e8");
  CHECK(numeric("-12.5e-3") == "00 01 ff ff 40 00 00 04 00 7d");
  CHECK(numeric("1.5e1") == "00 01 00 00 00 00 00 00 00 0f");
  CHECK(numeric("123456789.5") == "00 04 00 02 00 00 00 01 00 01 09 29 1a 85 13 88");
  CHECK(numeric("0.00012") == "00 02 ff ff 00 00 00 05 00 01 07 d0");
  CHECK(numeric("100000000") == "00 01 00 02 00 00 00 00 00 01");
  CHECK(numeric("NaN") == "00 00 00 00 c0 00 00 00");
  CHECK(numeric("nan") == "00 00 00 00 c0 00 00 00");
  CHECK(numeric("Infinity") == "00 00 00 00 d0 00 00 00");
  CHECK(numeric("-Infinity") == "00 00 00 00 f0 00 00 00");
}

TEST_CASE("numeric zero keeps its scale and never carries a sign") {
  CHECK(numeric("-0") == "00 00 00 00 00 00 00 00");
  CHECK(numeric("-0.00") == "00 00 00 00 00 00 00 02");
  CHECK(numeric("0e5") == "00 00 00 00 00 00 00 00");
  CHECK(numeric("0.0e-2") == "00 00 00 00 00 00 00 03");
}

TEST_CASE("numeric accepts the decimal literals PostgreSQL accepts beyond JSON's") {
  CHECK(numeric("+5") == "00 01 00 00 00 00 00 00 00 05");
  CHECK(numeric("007") == "00 01 00 00 00 00 00 00 00 07");
  CHECK(numeric(".5") == "00 01 ff ff 00 00 00 01 13 88");
  CHECK(numeric("5.") == "00 01 00 00 00 00 00 00 00 05");
}

TEST_CASE("numeric rejects text that is not a decimal number and appends nothing") {
  for (const char* text : {"", "abc", "1.2.3", "--1", "1e", "e5", ".", "-", "0x10", " 1", "1 ", "+NaN", "1e+",
                           "1,5", "Infinit", "1e131072", "1e-100001", "1e99999999999999999999"}) {
    CAPTURE(text);
    CopyBuffer buffer;
    buffer.append_int16(1);
    const std::string before(buffer.view());
    CHECK_FALSE(buffer.append_numeric(text));
    CHECK(buffer.view() == before);
  }
}

TEST_CASE("numeric refuses values beyond PostgreSQL's numeric range") {
  CopyBuffer buffer;
  // The exponent cap comes first, so the digits before the point need writing out.
  CHECK_FALSE(buffer.append_numeric("1" + std::string(131072, '0')));  // 131073 digits before the point
  CHECK(buffer.append_numeric("1" + std::string(131071, '0')));
  CHECK(buffer.append_numeric("1e100000"));
  CHECK_FALSE(buffer.append_numeric("1e-16384"));  // 16384 digits after the point
  CHECK(buffer.append_numeric("1e-16383"));
  CHECK_FALSE(buffer.append_numeric("0." + std::string(16384, '0')));
}

TEST_CASE("tuple_field finds each field of a tuple, NULLs included") {
  CopyBuffer buffer;
  buffer.begin_tuple(5);
  buffer.append_int64(42);
  buffer.append_null();
  buffer.append_bytes("hello");
  buffer.append_bytes("");
  buffer.append_null();
  const std::string_view tuple = buffer.view();

  REQUIRE(tuple_field(tuple, 0).has_value());
  CHECK(hex(*tuple_field(tuple, 0)) == "00 00 00 00 00 00 00 2a");
  CHECK_FALSE(tuple_field(tuple, 1).has_value());
  REQUIRE(tuple_field(tuple, 2).has_value());
  CHECK(*tuple_field(tuple, 2) == "hello");
  REQUIRE(tuple_field(tuple, 3).has_value());
  CHECK(tuple_field(tuple, 3)->empty());
  CHECK_FALSE(tuple_field(tuple, 4).has_value());
}

TEST_CASE("compare_binary_values orders integers, negatives included") {
  const auto int16 = [](int16_t v) { return value_bytes([v](CopyBuffer& b) { b.append_int16(v); }); };
  const auto int32 = [](int32_t v) { return value_bytes([v](CopyBuffer& b) { b.append_int32(v); }); };
  const auto int64 = [](int64_t v) { return value_bytes([v](CopyBuffer& b) { b.append_int64(v); }); };

  CHECK(compare_binary_values(ColumnType::SmallInt, int16(-1), int16(1)) < 0);
  CHECK(compare_binary_values(ColumnType::SmallInt, int16(300), int16(2)) > 0);
  CHECK(compare_binary_values(ColumnType::SmallInt, int16(-32768), int16(-32768)) == 0);

  CHECK(compare_binary_values(ColumnType::Integer, int32(-5), int32(-4)) < 0);
  CHECK(compare_binary_values(ColumnType::Integer, int32(256), int32(1)) > 0);
  CHECK(compare_binary_values(ColumnType::Integer, int32(7), int32(7)) == 0);

  CHECK(compare_binary_values(ColumnType::BigInt, int64(-1), int64(0)) < 0);
  CHECK(compare_binary_values(ColumnType::BigInt, int64(std::numeric_limits<int64_t>::max()),
                              int64(std::numeric_limits<int64_t>::min())) > 0);
  CHECK(compare_binary_values(ColumnType::BigInt, int64(int64_t{1} << 40), int64(int64_t{1} << 40)) == 0);
}

TEST_CASE("compare_binary_values orders dates and timestamps") {
  const auto date = [](int32_t v) { return value_bytes([v](CopyBuffer& b) { b.append_date(v); }); };
  const auto timestamp = [](int64_t v) { return value_bytes([v](CopyBuffer& b) { b.append_timestamp(v); }); };

  CHECK(compare_binary_values(ColumnType::Date, date(-1), date(0)) < 0);
  CHECK(compare_binary_values(ColumnType::Date, date(8825), date(8824)) > 0);
  CHECK(compare_binary_values(ColumnType::Timestamp, timestamp(-1000000), timestamp(1)) < 0);
  CHECK(compare_binary_values(ColumnType::TimestampTz, timestamp(768294489123456), timestamp(768294489123455)) > 0);
  CHECK(compare_binary_values(ColumnType::TimestampTz, timestamp(5), timestamp(5)) == 0);
}

TEST_CASE("time is int64 microseconds of the day, ordered, equal and hashed by value") {
  CopyBuffer buffer;
  buffer.append_time(45296789000);
  CHECK(hex(buffer.view()) == "00 00 00 08 00 00 00 0a 8b e6 26 08");

  const auto time = [](int64_t v) { return value_bytes([v](CopyBuffer& b) { b.append_time(v); }); };
  CHECK(compare_binary_values(ColumnType::Time, time(0), time(86400000000)) < 0);
  CHECK(compare_binary_values(ColumnType::Time, time(45296789001), time(45296789000)) > 0);
  CHECK(compare_binary_values(ColumnType::Time, time(7), time(7)) == 0);
  CHECK(binary_values_equal(ColumnType::Time, time(7), time(7)));
  CHECK_FALSE(binary_values_equal(ColumnType::Time, time(7), time(8)));
  CHECK(hash_binary_value(ColumnType::Time, time(7)) == hash_binary_value(ColumnType::Time, time(7)));
}

TEST_CASE("compare_binary_values orders floats like PostgreSQL, NaN above everything") {
  const auto real = [](float v) { return value_bytes([v](CopyBuffer& b) { b.append_float32(v); }); };
  const auto dbl = [](double v) { return value_bytes([v](CopyBuffer& b) { b.append_float64(v); }); };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  CHECK(compare_binary_values(ColumnType::Real, real(-2.5f), real(-1.0f)) < 0);
  CHECK(compare_binary_values(ColumnType::Real, real(1.0f), real(0.5f)) > 0);
  CHECK(compare_binary_values(ColumnType::Real, real(std::nanf("")), real(3.0e38f)) > 0);

  CHECK(compare_binary_values(ColumnType::Double, dbl(-1e300), dbl(1e-300)) < 0);
  CHECK(compare_binary_values(ColumnType::Double, dbl(-0.0), dbl(0.0)) == 0);
  CHECK(compare_binary_values(ColumnType::Double, dbl(nan), dbl(inf)) > 0);
  CHECK(compare_binary_values(ColumnType::Double, dbl(inf), dbl(nan)) < 0);
  CHECK(compare_binary_values(ColumnType::Double, dbl(nan), dbl(nan)) == 0);
}

TEST_CASE("compare_binary_values orders numerics by sign, weight and digits, whatever their scale") {
  const auto num = [](const char* text) {
    return value_bytes([text](CopyBuffer& b) { REQUIRE(b.append_numeric(text)); });
  };
  const auto compare = [&](const char* a, const char* b) {
    return compare_binary_values(ColumnType::Numeric, num(a), num(b));
  };

  CHECK(compare("1", "2") < 0);
  CHECK(compare("10000", "9999.9999") > 0);     // different weights
  CHECK(compare("0.0001", "0.001") < 0);        // negative weights
  CHECK(compare("1.5", "1.50000") == 0);        // scale does not matter
  CHECK(compare("1.5", "1.5001") < 0);          // a longer digit string
  CHECK(compare("-1", "1") < 0);
  CHECK(compare("-10000", "-1") < 0);           // larger magnitude, smaller value
  CHECK(compare("-0.5", "-0.25") < 0);
  CHECK(compare("-0.5", "0") < 0);
  CHECK(compare("0", "0.0000") == 0);
  CHECK(compare("0", "0.0001") < 0);
  CHECK(compare("123456789012345678901234567890", "123456789012345678901234567891") < 0);
  CHECK(compare("NaN", "Infinity") > 0);
  CHECK(compare("NaN", "NaN") == 0);
  CHECK(compare("Infinity", "1e100000") > 0);
  CHECK(compare("-Infinity", "-1e100000") < 0);
  CHECK(compare("-Infinity", "-Infinity") == 0);
}

namespace {

std::string numeric_value(std::string_view text) {
  CopyBuffer buffer;
  REQUIRE(buffer.append_numeric(text));
  return std::string(buffer.view().substr(4));
}

/// Equal per binary_values_equal, and then hashed alike (the reducer's contract).
bool same_key(ColumnType type, const std::string& a, const std::string& b) {
  const bool equal = binary_values_equal(type, a, b);
  CHECK(equal == binary_values_equal(type, b, a));
  if (equal) CHECK(hash_binary_value(type, a) == hash_binary_value(type, b));
  return equal;
}

std::string canonical(std::string_view text) {
  std::string out;
  REQUIRE(canonical_decimal_text(text, out));
  return out;
}

}  // namespace

TEST_CASE("binary_values_equal treats numerics equal in value as one key whatever their scale or exponent") {
  const std::string one = numeric_value("1");
  for (const char* spelling : {"1.0", "1.00", "1e0", "10e-1", "0.1e1", "+1", "1.000000000000000000000000"}) {
    INFO(spelling);
    CHECK(same_key(ColumnType::Numeric, one, numeric_value(spelling)));
  }
  // Those spellings differ in their bytes (display scale, trailing zero digits), not in value.
  CHECK(one != numeric_value("1.0"));
  CHECK(one != numeric_value("10e-1"));
  CHECK(one != numeric_value("1.000000000000000000000000"));
  CHECK(same_key(ColumnType::Numeric, numeric_value("12345.6789"), numeric_value("1234567890e-5")));
  CHECK(same_key(ColumnType::Numeric, numeric_value("-100"), numeric_value("-1e2")));
  CHECK(same_key(ColumnType::Numeric, numeric_value("0"), numeric_value("-0.0")));
  CHECK(same_key(ColumnType::Numeric, numeric_value("0.000"), numeric_value("0e10")));
  CHECK(same_key(ColumnType::Numeric, numeric_value("NaN"), numeric_value("nan")));
  CHECK(same_key(ColumnType::Numeric, numeric_value("Infinity"), numeric_value("inf")));

  CHECK_FALSE(same_key(ColumnType::Numeric, one, numeric_value("1.0001")));
  CHECK_FALSE(same_key(ColumnType::Numeric, one, numeric_value("-1")));
  CHECK_FALSE(same_key(ColumnType::Numeric, one, numeric_value("10001")));  // digits 1 0001 vs 1
  CHECK_FALSE(same_key(ColumnType::Numeric, one, numeric_value("0.0001")));
  CHECK_FALSE(same_key(ColumnType::Numeric, numeric_value("NaN"), numeric_value("Infinity")));
  CHECK_FALSE(same_key(ColumnType::Numeric, numeric_value("0"), numeric_value("NaN")));
}

TEST_CASE("binary_values_equal holds 0 = -0 and NaN = NaN for real and double, as PostgreSQL's float = does") {
  const auto float64 = [](double value) { return value_bytes([value](CopyBuffer& b) { b.append_float64(value); }); };
  const auto float32 = [](float value) { return value_bytes([value](CopyBuffer& b) { b.append_float32(value); }); };
  CHECK(float64(0.0) != float64(-0.0));
  CHECK(same_key(ColumnType::Double, float64(0.0), float64(-0.0)));
  CHECK(same_key(ColumnType::Real, float32(0.0f), float32(-0.0f)));
  const double quiet_nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(same_key(ColumnType::Double, float64(quiet_nan), float64(-quiet_nan)));
  CHECK(same_key(ColumnType::Real, float32(std::numeric_limits<float>::quiet_NaN()),
                 float32(std::numeric_limits<float>::signaling_NaN())));
  CHECK(same_key(ColumnType::Double, float64(1.5), float64(1.5)));
  CHECK_FALSE(same_key(ColumnType::Double, float64(1.5), float64(-1.5)));
  CHECK_FALSE(same_key(ColumnType::Double, float64(0.0), float64(quiet_nan)));
  CHECK_FALSE(same_key(ColumnType::Real, float32(1.0f), float32(std::nextafter(1.0f, 2.0f))));
}

TEST_CASE("binary_values_equal compares the other key types bytewise, their send formats being canonical") {
  const auto int64 = [](int64_t value) { return value_bytes([value](CopyBuffer& b) { b.append_int64(value); }); };
  CHECK(same_key(ColumnType::BigInt, int64(7), int64(7)));
  CHECK_FALSE(same_key(ColumnType::BigInt, int64(7), int64(-7)));
  CHECK(same_key(ColumnType::TimestampTz, int64(5), int64(5)));
  CHECK_FALSE(same_key(ColumnType::Timestamp, int64(5), int64(6)));
  CHECK(same_key(ColumnType::Text, "abc", "abc"));
  CHECK_FALSE(same_key(ColumnType::Text, "abc", "ABC"));  // text compares by its collation: the default is exact
  CHECK_FALSE(same_key(ColumnType::Bytea, std::string("a\0", 2), "a"));
}

TEST_CASE("canonical_decimal_text writes every spelling of a number's value the same way") {
  for (const char* spelling : {"1", "1.0", "1.00", "1e0", "10e-1", "0.1e1", "+1", "1E+0"}) {
    INFO(spelling);
    CHECK(canonical(spelling) == "1");
  }
  CHECK(canonical("0") == "0");
  CHECK(canonical("-0.0") == "0");
  CHECK(canonical("0e-7") == "0");
  CHECK(canonical("0.50") == "0.5");
  CHECK(canonical("-12.340e1") == "-123.4");
  CHECK(canonical("1.5e3") == "1500");
  CHECK(canonical("0.00012") == "0.00012");
  CHECK(canonical("12e-5") == "0.00012");
  CHECK(canonical("123456789012345678901234567890") == "123456789012345678901234567890");
  CHECK(canonical("0.1") != canonical("0.1000000000000000001"));  // exact, never rounded
  // Far from 1 the plain form would be long: digits and the power of the last one.
  CHECK(canonical("1e100") == "1e100");
  CHECK(canonical("10e99") == "1e100");
  CHECK(canonical("-2.50e-70") == "-25e-71");
  std::string out = "kept";
  CHECK_FALSE(canonical_decimal_text("1e9999999", out));  // beyond parse_decimal's limits
  CHECK_FALSE(canonical_decimal_text("NaN", out));
  CHECK_FALSE(canonical_decimal_text("abc", out));
  CHECK(out == "kept");
}


TEST_CASE("a copy buffer keeps its bytes through growth, truncation, copies and moves") {
  CopyBuffer buffer;
  CHECK(buffer.view().empty());
  const std::string long_text(10000, 'x');  // past the first 4 KiB: the storage grows and moves
  buffer.begin_tuple(2);
  buffer.append_int32(7);
  buffer.append_bytes(long_text);
  const std::string first(buffer.view());
  REQUIRE(first.size() == 2 + 8 + 4 + long_text.size());
  CHECK(first.substr(0, 10) == std::string("\x00\x02\x00\x00\x00\x04\x00\x00\x00\x07", 10));
  CHECK(first.substr(14) == long_text);

  const size_t second_begin = buffer.size();
  buffer.begin_tuple(1);
  buffer.append_bytes("half-written");
  buffer.truncate(second_begin);  // how a failed decode is undone
  CHECK(buffer.view() == first);
  buffer.truncate(buffer.size() + 5);  // never grows
  CHECK(buffer.size() == first.size());

  CopyBuffer copy = buffer;
  buffer.clear();
  buffer.begin_tuple(1);
  buffer.append_null();
  CHECK(copy.view() == first);  // the copy owns its bytes
  CHECK(buffer.view() == std::string("\x00\x01\xff\xff\xff\xff", 6));  // reused storage, new bytes

  CopyBuffer moved = std::move(copy);
  CHECK(moved.view() == first);
  moved.append_bool(true);
  CHECK(moved.size() == first.size() + 5);
}

}  // namespace kps

namespace kps {

TEST_CASE("parse_time reads HH:MM[:SS[.ffffff]] into microseconds of the day, 24:00:00 at most") {
  int64_t micros = -1;
  CHECK_FALSE(parse_time("00:00", micros));
  CHECK(micros == 0);
  CHECK_FALSE(parse_time("23:59:59.999999", micros));
  CHECK(micros == kMicrosPerDay - 1);
  CHECK_FALSE(parse_time("24:00:00", micros));
  CHECK(micros == kMicrosPerDay);
  CHECK_FALSE(parse_time("12:34:56.7", micros));
  CHECK(micros == 45296700000);
  CHECK(std::string(parse_time("24:00:01", micros).what) == "is past 24:00:00");
  CHECK(std::string(parse_time("12:34:56.1234567", micros).what) == "more than 6 digits of fractional seconds");
  for (const char* bad : {"", "1:00", "12-00", "12:00:", "12:00:0", "12:00:00.", "12:00:00Z", "12:00:00 ", "T12:00"}) {
    CAPTURE(bad);
    CHECK(std::string(parse_time(bad, micros).what) == "not of the form HH:MM[:SS[.ffffff]]");
  }
}

TEST_CASE("epoch_units_to_postgres_micros reads ms, us and ns and refuses what PostgreSQL cannot hold") {
  int64_t micros = 0;
  CHECK_FALSE(epoch_units_to_postgres_micros(946684800000, 1000, micros));
  CHECK(micros == 0);
  CHECK_FALSE(epoch_units_to_postgres_micros(946684800000001, 1000000, micros));
  CHECK(micros == 1);
  CHECK_FALSE(epoch_units_to_postgres_micros(946684800000002000, 1000000000, micros));
  CHECK(micros == 2);
  CHECK(epoch_units_to_postgres_micros(946684800000002001, 1000000000, micros).kind == TextProblem::Kind::Malformed);
  CHECK(epoch_units_to_postgres_micros(INT64_MAX, 1000, micros).kind == TextProblem::Kind::OutOfRange);
  CHECK(epoch_units_to_postgres_micros(INT64_MIN, 1000000, micros).kind == TextProblem::Kind::OutOfRange);
}

}  // namespace kps
