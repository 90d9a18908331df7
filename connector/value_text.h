#pragma once
// Text forms of column values: the pure conversions behind the decoder (JSON strings,
// record keys and headers) and the numeric encoder. No vendor headers and no heap
// allocation: each parser reads a string_view and writes plain values.
//
// A parser that can fail for several reasons returns a TextProblem: empty on success,
// otherwise a static string saying what is wrong, ready to follow a quoted excerpt of
// the text in an error message, and whether the text is malformed or holds a value
// out of the type's range (the two become different bad-record reasons).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kps {

struct TextProblem {
  enum class Kind {
    Malformed,   // not the type's syntax, or a field outside its calendar range ("2024-13-01")
    OutOfRange,  // well-formed, but beyond what the PostgreSQL type can hold
  };
  const char* what = nullptr;  // nullptr: no problem
  Kind kind = Kind::Malformed;

  static constexpr TextProblem none() { return {}; }
  static constexpr TextProblem malformed(const char* what) { return {what, Kind::Malformed}; }
  static constexpr TextProblem out_of_range(const char* what) { return {what, Kind::OutOfRange}; }
  constexpr explicit operator bool() const { return what != nullptr; }
};

/// PostgreSQL's timestamp range in microseconds since 2000-01-01 (4714-11-24 BC up to,
/// not including, 294277-01-01): timestamp_recv rejects anything outside it.
inline constexpr int64_t kMinPostgresTimestampMicros = -211813488000000000LL;
inline constexpr int64_t kEndPostgresTimestampMicros = 9223371331200000000LL;

/// JSON insignificant whitespace removed from both ends.
std::string_view trim_json_whitespace(std::string_view text);

/// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view text);

enum class IntegerParse { Ok, NotAnInteger, OutOfRange };
/// A base-10 integer with an optional sign ("-42", "+7", "007"); no spaces, fractions
/// or exponents.
IntegerParse parse_int64(std::string_view text, int64_t& value);

/// true/false in PostgreSQL's spellings (true, false, t, f, yes, no, on, off, 1, 0),
/// case-insensitive.
bool parse_bool_text(std::string_view text, bool& value);

/// A decimal literal split into the parts the numeric encoder needs.
/// Accepted: optional sign, digits with an optional fraction (at least one digit in
/// all), an optional exponent e/E[+-]N; or NaN / Infinity / inf with an optional sign
/// (case-insensitive), as PostgreSQL's numeric input accepts them.
struct DecimalText {
  enum class Kind { Finite, NaN, PositiveInfinity, NegativeInfinity };
  Kind kind = Kind::Finite;
  bool negative = false;           // false for zero, whatever its written sign
  std::string_view integer_digits;
  std::string_view fraction_digits;
  int32_t exponent = 0;
  int32_t display_scale = 0;       // digits after the decimal point once the exponent is applied
  bool is_zero = true;
  // For a non-zero value: the power of ten of its first and last non-zero digits
  // (123.45 -> 2 and -2), and of the first written digit (123.45 -> 2).
  int64_t first_power = 0;
  int64_t last_power = 0;
  int64_t leading_power = 0;

  /// The digit whose place value is 10^power (0 outside the written digits).
  int digit_at_power(int64_t power) const;
};

/// Digits of numeric that PostgreSQL can hold: 131072 before the point, 16383 after.
inline constexpr int64_t kNumericMaxIntegerDigits = 131072;
inline constexpr int32_t kNumericMaxDisplayScale = 16383;
/// Exponents beyond this are refused outright, before any arithmetic on them; within it,
/// the digit limits above decide, as they do in PostgreSQL (1e131071 fits, 1e131072 does not).
inline constexpr int32_t kNumericMaxExponent = 1000000;

TextProblem parse_decimal(std::string_view text, DecimalText& out);

/// The canonical text of a decimal number's exact value, so that numbers equal in value
/// get equal text whatever their spelling: no exponent, no trailing fractional zeros, no
/// leading zeros, no sign on zero (1, 1.0, 1.00, 1e0 and 10e-1 give "1"; 0.50 gives
/// "0.5"; -0.0 gives "0"). A value whose plain form would reach beyond 10^64 or below
/// 10^-64 is written as its significant digits, "e" and the power of the last of them
/// (1e100 gives "1e100"). Not a rounding: 0.1 and 0.1000000000000000001 stay apart.
/// Returns false, writing nothing, for text that is not a finite decimal number within
/// parse_decimal's limits.
bool canonical_decimal_text(std::string_view text, std::string& out);

/// 32 hex digits, either bare or hyphenated 8-4-4-4-12, case-insensitive, optionally
/// in braces.
bool parse_uuid(std::string_view text, std::array<uint8_t, 16>& out);

/// "YYYY-MM-DD", year 0001-9999.
TextProblem parse_date(std::string_view text, int32_t& days_since_postgres_epoch);

struct TimestampText {
  int64_t local_micros = 0;                 // wall-clock time, microseconds since 2000-01-01 00:00
  std::optional<int32_t> offset_seconds;    // the written UTC offset; nullopt when there is none
};

/// "YYYY-MM-DD[T| ]HH:MM[:SS[.ffffff]]" followed by nothing, "Z", or an offset
/// ±HH, ±HH:MM or ±HHMM.
TextProblem parse_timestamp(std::string_view text, TimestampText& out);

/// Unix epoch milliseconds to microseconds since 2000-01-01, refusing values outside
/// PostgreSQL's timestamp range.
TextProblem epoch_millis_to_postgres_micros(int64_t epoch_millis, int64_t& micros);

/// Unix epoch time counted in units of which `units_per_second` (1000, 1000000 or
/// 1000000000) make a second, to microseconds since 2000-01-01. Refuses values outside
/// PostgreSQL's timestamp range, and nanoseconds that are not whole microseconds (the
/// type cannot hold them, and rounding would be a guess).
TextProblem epoch_units_to_postgres_micros(int64_t value, int64_t units_per_second, int64_t& micros);

/// Microseconds in a day: the largest `time` value, 24:00:00, which PostgreSQL accepts.
inline constexpr int64_t kMicrosPerDay = 86400000000LL;

/// "HH:MM[:SS[.ffffff]]" to microseconds since midnight, 0 up to and including
/// kMicrosPerDay (24:00:00 exactly is allowed, as PostgreSQL's time input does).
TextProblem parse_time(std::string_view text, int64_t& micros_of_day);

enum class FloatParse { Ok, NotANumber, OutOfRange };
/// A finite decimal floating-point number with an optional sign ("-1.5e3", "+.5"),
/// rounded to the nearest float; a magnitude that rounds to infinity or to zero from
/// a non-zero value is OutOfRange, as PostgreSQL's float input refuses both. NaN and
/// infinities are NotANumber: JSON cannot write them, so neither may a key or header.
FloatParse parse_float(std::string_view text, float& value);
FloatParse parse_double(std::string_view text, double& value);

/// Standard base64 (RFC 4648 alphabet, padded to a multiple of 4), appended to `out`.
/// On failure `out` keeps whatever was appended: callers reuse a scratch string.
TextProblem decode_base64(std::string_view text, std::string& out);

/// What jsonb would refuse in JSON text that is otherwise valid: the escape \u0000
/// (jsonb strings are text, which cannot hold NUL) and numbers beyond numeric's range
/// (jsonb stores numbers as numeric), either of which would abort a whole COPY.
TextProblem check_jsonb_text(std::string_view json);

/// A short, printable, double-quoted excerpt of `text` for error messages: at most
/// 64 bytes of it (cut on a UTF-8 boundary, "..." marks the cut), with control
/// characters, quotes, backslashes and bytes of invalid UTF-8 escaped.
std::string quoted_excerpt(std::string_view text);

}  // namespace kps
