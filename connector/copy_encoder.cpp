#include "connector/copy_encoder.h"

#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>

#include "connector/value_text.h"

namespace kps {
namespace {

// PostgreSQL's numeric send format: base-10000 digits and these sign words.
constexpr int kNumericBase = 10000;
constexpr uint16_t kNumericPositive = 0x0000;
constexpr uint16_t kNumericNegative = 0x4000;
constexpr uint16_t kNumericNaN = 0xC000;
constexpr uint16_t kNumericPositiveInfinity = 0xD000;
constexpr uint16_t kNumericNegativeInfinity = 0xF000;

template <typename UInt>
UInt to_big_endian(UInt value) {
  if constexpr (std::endian::native == std::endian::big) {
    return value;
  } else if constexpr (sizeof(UInt) == 2) {
    return __builtin_bswap16(value);
  } else if constexpr (sizeof(UInt) == 4) {
    return __builtin_bswap32(value);
  } else {
    static_assert(sizeof(UInt) == 8);
    return __builtin_bswap64(value);
  }
}

template <typename UInt>
void put_big_endian(ByteBuffer& bytes, UInt value) {
  const UInt wire = to_big_endian(value);
  std::memcpy(bytes.extend(sizeof wire), &wire, sizeof wire);
}

template <typename UInt>
UInt read_big_endian(std::string_view bytes, size_t offset) {
  UInt wire;
  std::memcpy(&wire, bytes.data() + offset, sizeof wire);
  return to_big_endian(wire);  // a byte swap is its own inverse
}

/// Floor division by 4 for negative powers too: 10^-1 belongs to group -1.
int64_t group_of_power(int64_t power) { return power >= 0 ? power / 4 : -((-power + 3) / 4); }

/// Orders doubles as PostgreSQL's float8 comparisons do: NaN equals NaN and sorts above
/// every other value; -0 equals 0.
int compare_floats(double a, double b) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan || b_nan) return static_cast<int>(a_nan) - static_cast<int>(b_nan);
  return a < b ? -1 : (a > b ? 1 : 0);
}

/// One hash per float value as PostgreSQL's float `=` sees it: every NaN alike, -0 as 0.
template <typename Float>
size_t hash_float(Float value) {
  if (std::isnan(value)) return 0x7ff8u;
  if (value == 0) return 0;
  return std::hash<Float>()(value);
}

template <typename T>
int compare_ordered(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

/// A numeric value read back from its send format, for comparisons.
class NumericReader {
 public:
  explicit NumericReader(std::string_view bytes) : bytes_(bytes) {
    ndigits_ = read_big_endian<uint16_t>(bytes, 0);
    weight_ = static_cast<int16_t>(read_big_endian<uint16_t>(bytes, 2));
    sign_ = read_big_endian<uint16_t>(bytes, 4);
    // Leading zero digits are legal on the wire though we never write them; trailing
    // ones are what a display scale such as 1.00000 adds, and change no value.
    while (first_ < ndigits_ && digit(0) == 0) {
      ++first_;
      --weight_;
    }
    while (ndigits_ > first_ && digit(ndigits_ - first_ - 1) == 0) --ndigits_;
  }

  /// -2 -infinity, -1 negative, 0 zero, 1 positive, 2 +infinity, 3 NaN.
  int order_class() const {
    switch (sign_) {
      case kNumericNaN: return 3;
      case kNumericPositiveInfinity: return 2;
      case kNumericNegativeInfinity: return -2;
      default: break;
    }
    if (first_ == ndigits_) return 0;
    return sign_ == kNumericNegative ? -1 : 1;
  }

  /// Compares absolute values of two non-zero finite numerics.
  static int compare_magnitudes(const NumericReader& a, const NumericReader& b) {
    if (a.weight_ != b.weight_) return a.weight_ < b.weight_ ? -1 : 1;
    const int count = std::max(a.significant_digits(), b.significant_digits());
    for (int i = 0; i < count; ++i) {
      const int digit_a = i < a.significant_digits() ? a.digit(i) : 0;
      const int digit_b = i < b.significant_digits() ? b.digit(i) : 0;
      if (digit_a != digit_b) return digit_a < digit_b ? -1 : 1;
    }
    return 0;
  }

  /// Equal for numerics that compare equal: the order class, and for a non-zero finite
  /// value its weight and digits without leading or trailing zeros (not the display scale).
  size_t hash() const {
    const int order = order_class();
    size_t hash = std::hash<int>()(order);
    if (order != 1 && order != -1) return hash;
    hash = hash * 1000003u ^ std::hash<int>()(weight_);
    for (int i = 0; i < significant_digits(); ++i) hash = hash * 31u + static_cast<size_t>(digit(i));
    return hash;
  }

 private:
  int significant_digits() const { return ndigits_ - first_; }
  int digit(int i) const {
    return static_cast<int16_t>(read_big_endian<uint16_t>(bytes_, 8 + 2 * static_cast<size_t>(first_ + i)));
  }

  std::string_view bytes_;
  int ndigits_ = 0;
  int first_ = 0;
  int weight_ = 0;
  uint16_t sign_ = kNumericPositive;
};

int compare_numerics(std::string_view a, std::string_view b) {
  const NumericReader reader_a(a);
  const NumericReader reader_b(b);
  const int class_a = reader_a.order_class();
  const int class_b = reader_b.order_class();
  if (class_a != class_b) return class_a < class_b ? -1 : 1;
  if (class_a != 1 && class_a != -1) return 0;  // both zero, both NaN, or the same infinity
  const int magnitude = NumericReader::compare_magnitudes(reader_a, reader_b);
  return class_a < 0 ? -magnitude : magnitude;
}

}  // namespace

std::string_view copy_stream_header() {
  // Signature, then int32 flags (no OIDs) and int32 header-extension length, both 0.
  static constexpr char kHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
  return std::string_view(kHeader, sizeof kHeader - 1);
}

std::string_view copy_stream_trailer() {
  static constexpr char kTrailer[] = "\377\377";
  return std::string_view(kTrailer, 2);
}

void ByteBuffer::grow(size_t count) {
  const size_t capacity = std::max({size_ + count, capacity_ * 2, size_t{4096}});
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ != 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

void CopyBuffer::begin_tuple(int16_t field_count) { put_big_endian(bytes_, static_cast<uint16_t>(field_count)); }

void CopyBuffer::append_null() { put_big_endian(bytes_, static_cast<uint32_t>(-1)); }

void CopyBuffer::append_int16(int16_t value) {
  put_big_endian(bytes_, uint32_t{2});
  put_big_endian(bytes_, static_cast<uint16_t>(value));
}

void CopyBuffer::append_int32(int32_t value) {
  put_big_endian(bytes_, uint32_t{4});
  put_big_endian(bytes_, static_cast<uint32_t>(value));
}

void CopyBuffer::append_int64(int64_t value) {
  put_big_endian(bytes_, uint32_t{8});
  put_big_endian(bytes_, static_cast<uint64_t>(value));
}

void CopyBuffer::append_float32(float value) {
  put_big_endian(bytes_, uint32_t{4});
  put_big_endian(bytes_, std::bit_cast<uint32_t>(value));
}

void CopyBuffer::append_float64(double value) {
  put_big_endian(bytes_, uint32_t{8});
  put_big_endian(bytes_, std::bit_cast<uint64_t>(value));
}

void CopyBuffer::append_bool(bool value) {
  put_big_endian(bytes_, uint32_t{1});
  bytes_.push_back(value ? '\1' : '\0');
}

void CopyBuffer::append_bytes(std::string_view bytes) {
  put_big_endian(bytes_, static_cast<uint32_t>(bytes.size()));
  bytes_.append(bytes.data(), bytes.size());
}

void CopyBuffer::append_jsonb(std::string_view json_text) {
  constexpr char kJsonbVersion = 1;
  put_big_endian(bytes_, static_cast<uint32_t>(json_text.size() + 1));
  bytes_.push_back(kJsonbVersion);
  bytes_.append(json_text.data(), json_text.size());
}

void CopyBuffer::append_uuid(const std::array<uint8_t, 16>& uuid) {
  put_big_endian(bytes_, uint32_t{16});
  bytes_.append(reinterpret_cast<const char*>(uuid.data()), uuid.size());
}

void CopyBuffer::append_date(int32_t days_since_postgres_epoch) { append_int32(days_since_postgres_epoch); }

void CopyBuffer::append_timestamp(int64_t micros_since_postgres_epoch) { append_int64(micros_since_postgres_epoch); }

void CopyBuffer::append_time(int64_t micros_of_day) { append_int64(micros_of_day); }

bool CopyBuffer::append_numeric(std::string_view decimal_text) {
  DecimalText decimal;
  if (parse_decimal(decimal_text, decimal)) return false;

  uint16_t sign = kNumericPositive;
  switch (decimal.kind) {
    case DecimalText::Kind::NaN: sign = kNumericNaN; break;
    case DecimalText::Kind::PositiveInfinity: sign = kNumericPositiveInfinity; break;
    case DecimalText::Kind::NegativeInfinity: sign = kNumericNegativeInfinity; break;
    case DecimalText::Kind::Finite: sign = decimal.negative ? kNumericNegative : kNumericPositive; break;
  }
  int64_t weight = 0;
  int64_t last_group = 1;  // ndigits = weight - last_group + 1 = 0 for zero and specials
  if (decimal.kind == DecimalText::Kind::Finite && !decimal.is_zero) {
    weight = group_of_power(decimal.first_power);
    last_group = group_of_power(decimal.last_power);
  }
  const int64_t ndigits = weight - last_group + 1;
  const int32_t display_scale = decimal.kind == DecimalText::Kind::Finite ? decimal.display_scale : 0;

  put_big_endian(bytes_, static_cast<uint32_t>(8 + 2 * ndigits));
  // ndigits is read back as uint16: parse_decimal's limits keep it below 65536.
  put_big_endian(bytes_, static_cast<uint16_t>(ndigits));
  put_big_endian(bytes_, static_cast<uint16_t>(static_cast<int16_t>(weight)));
  put_big_endian(bytes_, sign);
  put_big_endian(bytes_, static_cast<uint16_t>(display_scale));
  for (int64_t group = weight; group >= last_group; --group) {
    int value = 0;
    for (int64_t power = group * 4 + 3; power >= group * 4; --power) {
      value = value * 10 + decimal.digit_at_power(power);
    }
    assert(value < kNumericBase);
    put_big_endian(bytes_, static_cast<uint16_t>(value));
  }
  return true;
}

std::optional<std::string_view> tuple_field(std::string_view tuple, int index) {
  const int field_count = static_cast<int16_t>(read_big_endian<uint16_t>(tuple, 0));
  assert(index >= 0 && index < field_count);
  if (index < 0 || index >= field_count) return std::nullopt;
  size_t offset = 2;
  for (int field = 0;; ++field) {
    const auto length = static_cast<int32_t>(read_big_endian<uint32_t>(tuple, offset));
    offset += 4;
    if (field == index) {
      if (length < 0) return std::nullopt;
      return tuple.substr(offset, static_cast<size_t>(length));
    }
    if (length > 0) offset += static_cast<size_t>(length);
  }
}

int compare_binary_values(ColumnType type, std::string_view a, std::string_view b) {
  switch (type) {
    case ColumnType::SmallInt:
      return compare_ordered(static_cast<int16_t>(read_big_endian<uint16_t>(a, 0)),
                             static_cast<int16_t>(read_big_endian<uint16_t>(b, 0)));
    case ColumnType::Integer:
    case ColumnType::Date:
      return compare_ordered(static_cast<int32_t>(read_big_endian<uint32_t>(a, 0)),
                             static_cast<int32_t>(read_big_endian<uint32_t>(b, 0)));
    case ColumnType::BigInt:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Time:
      return compare_ordered(static_cast<int64_t>(read_big_endian<uint64_t>(a, 0)),
                             static_cast<int64_t>(read_big_endian<uint64_t>(b, 0)));
    case ColumnType::Real:
      return compare_floats(std::bit_cast<float>(read_big_endian<uint32_t>(a, 0)),
                            std::bit_cast<float>(read_big_endian<uint32_t>(b, 0)));
    case ColumnType::Double:
      return compare_floats(std::bit_cast<double>(read_big_endian<uint64_t>(a, 0)),
                            std::bit_cast<double>(read_big_endian<uint64_t>(b, 0)));
    case ColumnType::Numeric:
      return compare_numerics(a, b);
    case ColumnType::Boolean:
    case ColumnType::Text:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Jsonb:
    case ColumnType::Bytea:
      // Not allowed in upsert_when_newer; bytewise order is still total and matches
      // PostgreSQL for boolean, uuid and bytea (and text under the C collation).
      return compare_ordered(a.compare(b), 0);
  }
  return 0;
}

bool binary_values_equal(ColumnType type, std::string_view a, std::string_view b) {
  switch (type) {
    case ColumnType::Real:
    case ColumnType::Double:
    case ColumnType::Numeric:
      return compare_binary_values(type, a, b) == 0;
    case ColumnType::SmallInt:
    case ColumnType::Integer:
    case ColumnType::BigInt:
    case ColumnType::Boolean:
    case ColumnType::Text:
    case ColumnType::Uuid:
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Time:
    case ColumnType::Json:
    case ColumnType::Jsonb:
    case ColumnType::Bytea:
      return a == b;
  }
  return a == b;
}

size_t hash_binary_value(ColumnType type, std::string_view value) {
  switch (type) {
    case ColumnType::Real:
      return hash_float(std::bit_cast<float>(read_big_endian<uint32_t>(value, 0)));
    case ColumnType::Double:
      return hash_float(std::bit_cast<double>(read_big_endian<uint64_t>(value, 0)));
    case ColumnType::Numeric:
      return NumericReader(value).hash();
    case ColumnType::SmallInt:
    case ColumnType::Integer:
    case ColumnType::BigInt:
    case ColumnType::Boolean:
    case ColumnType::Text:
    case ColumnType::Uuid:
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Time:
    case ColumnType::Json:
    case ColumnType::Jsonb:
    case ColumnType::Bytea:
      break;
  }
  return std::hash<std::string_view>()(value);
}

}  // namespace kps
