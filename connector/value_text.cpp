#include "connector/value_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "connector/copy_encoder.h"

namespace kps {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char to_lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view text, std::string_view lower_word) {
  if (text.size() != lower_word.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (to_lower_ascii(text[i]) != lower_word[i]) return false;
  }
  return true;
}

/// Reads exactly `count` digits at `pos`; false if any of them is not a digit.
bool read_fixed_digits(std::string_view text, size_t pos, size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (!is_digit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's
/// days_from_civil), valid for every year PostgreSQL can store.
int64_t days_from_civil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

constexpr TextProblem kDateForm = TextProblem::malformed("not of the form YYYY-MM-DD");

/// The YYYY-MM-DD at the start of `text`, as days since 2000-01-01.
TextProblem parse_date_prefix(std::string_view text, int32_t& days) {
  int year = 0;
  int month = 0;
  int day = 0;
  if (!read_fixed_digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' ||
      !read_fixed_digits(text, 5, 2, month) || text[7] != '-' || !read_fixed_digits(text, 8, 2, day)) {
    return kDateForm;
  }
  if (year == 0) return TextProblem::malformed("year 0000 does not exist");
  if (month < 1 || month > 12) return TextProblem::malformed("month is out of range");
  if (day < 1 || day > days_in_month(year, month)) return TextProblem::malformed("day is out of range for the month");
  days = static_cast<int32_t>(days_from_civil(year, month, day) - kPostgresEpochDays);
  return TextProblem::none();
}

constexpr int8_t kNotBase64 = -1;

constexpr std::array<int8_t, 256> make_base64_table() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = kNotBase64;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

constexpr std::array<int8_t, 256> kBase64Values = make_base64_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Length of the well-formed UTF-8 sequence at text[pos], or 0 when it is not one.
size_t utf8_sequence_length(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t length = 0;
  uint32_t code_point = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto continuation = static_cast<unsigned char>(text[pos + i]);
    if ((continuation & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  static constexpr uint32_t kSmallestForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kSmallestForLength[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

}  // namespace

std::string_view trim_json_whitespace(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\n\r";
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

bool is_json_number(std::string_view text) {
  size_t pos = 0;
  const size_t size = text.size();
  if (pos < size && text[pos] == '-') ++pos;
  if (pos >= size || !is_digit(text[pos])) return false;
  if (text[pos] == '0') {
    ++pos;
  } else {
    while (pos < size && is_digit(text[pos])) ++pos;
  }
  if (pos < size && text[pos] == '.') {
    ++pos;
    if (pos >= size || !is_digit(text[pos])) return false;
    while (pos < size && is_digit(text[pos])) ++pos;
  }
  if (pos < size && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < size && (text[pos] == '+' || text[pos] == '-')) ++pos;
    if (pos >= size || !is_digit(text[pos])) return false;
    while (pos < size && is_digit(text[pos])) ++pos;
  }
  return pos == size;
}

IntegerParse parse_int64(std::string_view text, int64_t& value) {
  size_t digits_start = 0;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) digits_start = 1;
  if (digits_start == text.size()) return IntegerParse::NotAnInteger;
  for (size_t i = digits_start; i < text.size(); ++i) {
    if (!is_digit(text[i])) return IntegerParse::NotAnInteger;
  }
  // from_chars takes a leading '-' but not '+'.
  const char* first = text.data() + (text[0] == '+' ? 1 : 0);
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(first, last, value);
  if (error == std::errc::result_out_of_range) return IntegerParse::OutOfRange;
  if (error != std::errc() || end != last) return IntegerParse::NotAnInteger;
  return IntegerParse::Ok;
}

bool parse_bool_text(std::string_view text, bool& value) {
  for (const std::string_view word : {"true", "t", "yes", "on", "1"}) {
    if (equals_ignoring_case(text, word)) {
      value = true;
      return true;
    }
  }
  for (const std::string_view word : {"false", "f", "no", "off", "0"}) {
    if (equals_ignoring_case(text, word)) {
      value = false;
      return true;
    }
  }
  return false;
}

int DecimalText::digit_at_power(int64_t power) const {
  const int64_t index = leading_power - power;
  const auto integer_count = static_cast<int64_t>(integer_digits.size());
  const auto total = integer_count + static_cast<int64_t>(fraction_digits.size());
  if (index < 0 || index >= total) return 0;
  const char digit = index < integer_count ? integer_digits[static_cast<size_t>(index)]
                                           : fraction_digits[static_cast<size_t>(index - integer_count)];
  return digit - '0';
}

TextProblem parse_decimal(std::string_view text, DecimalText& out) {
  constexpr TextProblem kNotDecimal = TextProblem::malformed("not a decimal number");
  out = DecimalText{};
  size_t pos = 0;
  bool has_sign = false;
  bool minus = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    has_sign = true;
    minus = text[0] == '-';
    pos = 1;
  }
  const std::string_view unsigned_part = text.substr(pos);
  if (equals_ignoring_case(unsigned_part, "nan")) {
    if (has_sign) return kNotDecimal;
    out.kind = DecimalText::Kind::NaN;
    return TextProblem::none();
  }
  if (equals_ignoring_case(unsigned_part, "infinity") || equals_ignoring_case(unsigned_part, "inf")) {
    out.kind = minus ? DecimalText::Kind::NegativeInfinity : DecimalText::Kind::PositiveInfinity;
    return TextProblem::none();
  }

  const size_t integer_start = pos;
  while (pos < text.size() && is_digit(text[pos])) ++pos;
  out.integer_digits = text.substr(integer_start, pos - integer_start);
  if (pos < text.size() && text[pos] == '.') {
    const size_t fraction_start = ++pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    out.fraction_digits = text.substr(fraction_start, pos - fraction_start);
  }
  if (out.integer_digits.empty() && out.fraction_digits.empty()) return kNotDecimal;

  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exponent_negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      exponent_negative = text[pos] == '-';
      ++pos;
    }
    if (pos >= text.size() || !is_digit(text[pos])) return kNotDecimal;
    while (pos < text.size() && is_digit(text[pos])) {
      exponent = exponent * 10 + (text[pos] - '0');
      // Checked per digit, so a thousand-digit exponent cannot overflow.
      if (exponent > kNumericMaxExponent) return TextProblem::out_of_range("exponent is out of range");
      ++pos;
    }
    if (exponent_negative) exponent = -exponent;
  }
  if (pos != text.size()) return kNotDecimal;
  out.exponent = static_cast<int32_t>(exponent);

  const auto integer_count = static_cast<int64_t>(out.integer_digits.size());
  const auto fraction_count = static_cast<int64_t>(out.fraction_digits.size());
  const int64_t display_scale = std::max<int64_t>(0, fraction_count - exponent);
  if (display_scale > kNumericMaxDisplayScale) {
    return TextProblem::out_of_range("too many digits after the decimal point for numeric (at most 16383)");
  }
  out.display_scale = static_cast<int32_t>(display_scale);
  out.leading_power = integer_count + exponent - 1;

  int64_t first_nonzero = -1;
  int64_t last_nonzero = -1;
  for (int64_t i = 0; i < integer_count + fraction_count; ++i) {
    const char digit = i < integer_count ? out.integer_digits[static_cast<size_t>(i)]
                                         : out.fraction_digits[static_cast<size_t>(i - integer_count)];
    if (digit != '0') {
      if (first_nonzero < 0) first_nonzero = i;
      last_nonzero = i;
    }
  }
  if (first_nonzero < 0) return TextProblem::none();  // zero: PostgreSQL has no negative zero numeric

  out.is_zero = false;
  out.negative = minus;
  out.first_power = out.leading_power - first_nonzero;
  out.last_power = out.leading_power - last_nonzero;
  if (out.first_power >= kNumericMaxIntegerDigits) {
    return TextProblem::out_of_range("too many digits before the decimal point for numeric (at most 131072)");
  }
  return TextProblem::none();
}

bool canonical_decimal_text(std::string_view text, std::string& out) {
  DecimalText decimal;
  if (parse_decimal(text, decimal) || decimal.kind != DecimalText::Kind::Finite) return false;
  if (decimal.is_zero) {
    out += '0';
    return true;
  }
  if (decimal.negative) out += '-';
  constexpr int64_t kPlainPowerLimit = 64;
  if (decimal.first_power >= kPlainPowerLimit || decimal.last_power < -kPlainPowerLimit) {
    for (int64_t power = decimal.first_power; power >= decimal.last_power; --power) {
      out += static_cast<char>('0' + decimal.digit_at_power(power));
    }
    out += 'e';
    out += std::to_string(decimal.last_power);
    return true;
  }
  for (int64_t power = std::max<int64_t>(decimal.first_power, 0); power >= 0; --power) {
    out += static_cast<char>('0' + decimal.digit_at_power(power));
  }
  if (decimal.last_power < 0) {
    out += '.';
    for (int64_t power = -1; power >= decimal.last_power; --power) {
      out += static_cast<char>('0' + decimal.digit_at_power(power));
    }
  }
  return true;
}

bool parse_uuid(std::string_view text, std::array<uint8_t, 16>& out) {
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, text.size() - 2);
  }
  const bool hyphenated = text.size() == 36;
  if (!hyphenated && text.size() != 32) return false;
  size_t pos = 0;
  for (size_t byte = 0; byte < 16; ++byte) {
    // Canonical hyphens come before bytes 4, 6, 8 and 10.
    if (hyphenated && (byte == 4 || byte == 6 || byte == 8 || byte == 10)) {
      if (text[pos] != '-') return false;
      ++pos;
    }
    const int high = hex_value(text[pos]);
    const int low = hex_value(text[pos + 1]);
    if (high < 0 || low < 0) return false;
    out[byte] = static_cast<uint8_t>(high << 4 | low);
    pos += 2;
  }
  return pos == text.size();
}

TextProblem parse_date(std::string_view text, int32_t& days_since_postgres_epoch) {
  if (text.size() != 10) return kDateForm;
  return parse_date_prefix(text, days_since_postgres_epoch);
}

TextProblem parse_timestamp(std::string_view text, TimestampText& out) {
  constexpr TextProblem kTimestampForm =
      TextProblem::malformed("not of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]");
  out = TimestampText{};
  int32_t days = 0;
  if (text.size() < 16) return kTimestampForm;
  if (const TextProblem problem = parse_date_prefix(text, days)) {
    return problem.what == kDateForm.what ? kTimestampForm : problem;
  }
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return kTimestampForm;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!read_fixed_digits(text, 11, 2, hour) || text[13] != ':' || !read_fixed_digits(text, 14, 2, minute)) {
    return kTimestampForm;
  }
  size_t pos = 16;
  int64_t fraction_micros = 0;
  if (pos < text.size() && text[pos] == ':') {
    if (!read_fixed_digits(text, pos + 1, 2, second)) return kTimestampForm;
    pos += 3;
    if (pos < text.size() && text[pos] == '.') {
      const size_t fraction_start = ++pos;
      while (pos < text.size() && is_digit(text[pos])) ++pos;
      const size_t fraction_count = pos - fraction_start;
      if (fraction_count == 0) return kTimestampForm;
      if (fraction_count > 6) return TextProblem::malformed("more than 6 digits of fractional seconds");
      for (size_t i = fraction_start; i < fraction_start + 6; ++i) {
        fraction_micros = fraction_micros * 10 + (i < pos ? text[i] - '0' : 0);
      }
    }
  }
  if (hour > 23) return TextProblem::malformed("hour is out of range");
  if (minute > 59) return TextProblem::malformed("minute is out of range");
  if (second > 59) return TextProblem::malformed("second is out of range");

  if (pos < text.size()) {
    const char zone = text[pos];
    if ((zone == 'Z' || zone == 'z') && pos + 1 == text.size()) {
      out.offset_seconds = 0;
    } else if (zone == '+' || zone == '-') {
      int offset_hours = 0;
      int offset_minutes = 0;
      if (!read_fixed_digits(text, pos + 1, 2, offset_hours)) return kTimestampForm;
      pos += 3;
      if (pos < text.size()) {
        if (text[pos] == ':') ++pos;
        if (!read_fixed_digits(text, pos, 2, offset_minutes) || pos + 2 != text.size()) return kTimestampForm;
      }
      // PostgreSQL's own limit for a written UTC offset.
      if (offset_hours > 15 || offset_minutes > 59) return TextProblem::malformed("UTC offset is out of range");
      const int32_t magnitude = offset_hours * 3600 + offset_minutes * 60;
      out.offset_seconds = zone == '-' ? -magnitude : magnitude;
    } else {
      return kTimestampForm;
    }
  }

  constexpr int64_t kMicrosPerSecond = 1000000;
  out.local_micros = ((static_cast<int64_t>(days) * 24 + hour) * 60 + minute) * 60 * kMicrosPerSecond +
                     static_cast<int64_t>(second) * kMicrosPerSecond + fraction_micros;
  return TextProblem::none();
}

TextProblem epoch_millis_to_postgres_micros(int64_t epoch_millis, int64_t& micros) {
  constexpr TextProblem kOutOfRange = TextProblem::out_of_range("is out of PostgreSQL's timestamp range");
  int64_t epoch_micros = 0;
  if (__builtin_mul_overflow(epoch_millis, int64_t{1000}, &epoch_micros) ||
      __builtin_sub_overflow(epoch_micros, kPostgresEpochMicros, &micros)) {
    return kOutOfRange;
  }
  if (micros < kMinPostgresTimestampMicros || micros >= kEndPostgresTimestampMicros) return kOutOfRange;
  return TextProblem::none();
}

TextProblem epoch_units_to_postgres_micros(int64_t value, int64_t units_per_second, int64_t& micros) {
  constexpr TextProblem kOutOfRange = TextProblem::out_of_range("is out of PostgreSQL's timestamp range");
  constexpr int64_t kMicrosPerSecond = 1000000;
  int64_t epoch_micros = 0;
  if (units_per_second > kMicrosPerSecond) {
    const int64_t units_per_micro = units_per_second / kMicrosPerSecond;
    if (value % units_per_micro != 0) {
      return TextProblem::malformed("has a fraction of a microsecond, which PostgreSQL cannot hold");
    }
    epoch_micros = value / units_per_micro;
  } else if (__builtin_mul_overflow(value, kMicrosPerSecond / units_per_second, &epoch_micros)) {
    return kOutOfRange;
  }
  if (__builtin_sub_overflow(epoch_micros, kPostgresEpochMicros, &micros)) return kOutOfRange;
  if (micros < kMinPostgresTimestampMicros || micros >= kEndPostgresTimestampMicros) return kOutOfRange;
  return TextProblem::none();
}

TextProblem parse_time(std::string_view text, int64_t& micros_of_day) {
  constexpr TextProblem kTimeForm = TextProblem::malformed("not of the form HH:MM[:SS[.ffffff]]");
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (text.size() < 5 || !read_fixed_digits(text, 0, 2, hour) || text[2] != ':' ||
      !read_fixed_digits(text, 3, 2, minute)) {
    return kTimeForm;
  }
  size_t pos = 5;
  int64_t fraction_micros = 0;
  if (pos < text.size()) {
    if (text[pos] != ':' || !read_fixed_digits(text, pos + 1, 2, second)) return kTimeForm;
    pos += 3;
    if (pos < text.size()) {
      if (text[pos] != '.') return kTimeForm;
      const size_t fraction_start = ++pos;
      while (pos < text.size() && is_digit(text[pos])) ++pos;
      const size_t fraction_count = pos - fraction_start;
      if (fraction_count == 0 || pos != text.size()) return kTimeForm;
      if (fraction_count > 6) return TextProblem::malformed("more than 6 digits of fractional seconds");
      for (size_t i = fraction_start; i < fraction_start + 6; ++i) {
        fraction_micros = fraction_micros * 10 + (i < pos ? text[i] - '0' : 0);
      }
    }
  }
  if (hour > 24) return TextProblem::malformed("hour is out of range");
  if (minute > 59) return TextProblem::malformed("minute is out of range");
  if (second > 59) return TextProblem::malformed("second is out of range");
  constexpr int64_t kMicrosPerSecond = 1000000;
  micros_of_day = ((static_cast<int64_t>(hour) * 60 + minute) * 60 + second) * kMicrosPerSecond + fraction_micros;
  // 24:00:00 is the end of the day; anything past it is not a time of day.
  if (micros_of_day > kMicrosPerDay) return TextProblem::malformed("is past 24:00:00");
  return TextProblem::none();
}

namespace {

template <typename Float>
FloatParse parse_floating(std::string_view text, Float& value) {
  // from_chars refuses the leading '+' PostgreSQL takes, and takes the "nan" and
  // "inf" that JSON cannot write.
  if (text.size() > 1 && text[0] == '+' && (is_digit(text[1]) || text[1] == '.')) text.remove_prefix(1);
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  if (error == std::errc::result_out_of_range) return FloatParse::OutOfRange;
  if (error != std::errc() || end != last || !std::isfinite(value)) return FloatParse::NotANumber;
  return FloatParse::Ok;
}

}  // namespace

FloatParse parse_float(std::string_view text, float& value) { return parse_floating(text, value); }

FloatParse parse_double(std::string_view text, double& value) { return parse_floating(text, value); }

TextProblem decode_base64(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return TextProblem::malformed("length is not a multiple of 4");
  for (size_t pos = 0; pos < text.size(); pos += 4) {
    const bool last_quad = pos + 4 == text.size();
    size_t padding = 0;
    if (last_quad) {
      if (text[pos + 3] == '=') padding = text[pos + 2] == '=' ? 2 : 1;
    }
    uint32_t bits = 0;
    for (size_t i = 0; i < 4 - padding; ++i) {
      const int8_t value = kBase64Values[static_cast<unsigned char>(text[pos + i])];
      if (value == kNotBase64) {
        return TextProblem::malformed(text[pos + i] == '=' ? "misplaced '=' padding" : "invalid character");
      }
      bits |= static_cast<uint32_t>(value) << (18 - 6 * i);
    }
    out.push_back(static_cast<char>(bits >> 16));
    if (padding < 2) out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (padding < 1) out.push_back(static_cast<char>(bits & 0xFF));
  }
  return TextProblem::none();
}

TextProblem check_jsonb_text(std::string_view json) {
  // Only plain numbers of ordinary length fit numeric for sure; exponents and very
  // long digit strings get the full check.
  constexpr size_t kAlwaysFitsLength = 1000;
  size_t pos = 0;
  const size_t size = json.size();
  while (pos < size) {
    const char c = json[pos];
    if (c == '"') {
      for (++pos; pos < size && json[pos] != '"'; ++pos) {
        if (json[pos] != '\\') continue;
        if (json.substr(pos + 1, 5) == "u0000") {
          return TextProblem::malformed("jsonb cannot store \\u0000 in a string");
        }
        ++pos;  // the escaped character, which may be a quote or a backslash
      }
      ++pos;
    } else if (c == '-' || is_digit(c)) {
      const size_t start = pos;
      bool has_exponent = false;
      while (pos < size && (is_digit(json[pos]) || json[pos] == '-' || json[pos] == '+' || json[pos] == '.' ||
                            json[pos] == 'e' || json[pos] == 'E')) {
        has_exponent = has_exponent || json[pos] == 'e' || json[pos] == 'E';
        ++pos;
      }
      DecimalText decimal;
      if ((has_exponent || pos - start > kAlwaysFitsLength) &&
          parse_decimal(json.substr(start, pos - start), decimal)) {
        return TextProblem::out_of_range("holds a number beyond the range of numeric, which jsonb stores numbers as");
      }
    } else {
      ++pos;
    }
  }
  return TextProblem::none();
}

std::string quoted_excerpt(std::string_view text) {
  constexpr size_t kMaxExcerptBytes = 64;
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  size_t length = std::min(text.size(), kMaxExcerptBytes);
  while (length < text.size() && length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) {
    --length;  // do not cut a UTF-8 sequence in half
  }
  std::string out = "\"";
  size_t pos = 0;
  while (pos < length) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
      ++pos;
      continue;
    }
    const size_t sequence = byte >= 0x80 ? utf8_sequence_length(text.substr(0, length), pos) : 1;
    if (byte < 0x20 || byte == 0x7F || sequence == 0) {
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xF];
      ++pos;
      continue;
    }
    out.append(text.substr(pos, sequence));
    pos += sequence;
  }
  if (length < text.size()) out += "...";
  out += '"';
  return out;
}

}  // namespace kps
