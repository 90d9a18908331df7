#pragma once
// PostgreSQL binary COPY encoding. This is the hot path: values go straight into one
// reused byte buffer, with no per-row allocation once the buffer has grown.
//
// Wire format (PostgreSQL docs, "COPY ... Binary Format"): a stream header, then per
// tuple an int16 field count followed by, per field, an int32 byte length (-1 = NULL)
// and the value in the type's binary send format, all integers big-endian; a trailer
// of int16 -1 ends the stream.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "connector/config.h"

namespace kps {

/// The 19-byte header that opens a binary COPY stream.
std::string_view copy_stream_header();
/// The 2-byte trailer that closes it.
std::string_view copy_stream_trailer();

/// The most bytes handed to libpq in one PQputCopyData call. Its size argument is an
/// int, so a batch of 2 GiB or more cannot go in one piece; 1 MiB pieces also keep each
/// call short.
inline constexpr size_t kCopySendChunkBytes = 1 << 20;

/// Cuts the first piece of at most `max_bytes` (> 0) bytes off `rest` and returns it;
/// empty once `rest` is.
inline std::string_view take_copy_chunk(std::string_view& rest, size_t max_bytes = kCopySendChunkBytes) {
  const std::string_view chunk = rest.substr(0, max_bytes);
  rest.remove_prefix(chunk.size());
  return chunk;
}

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 00:00:00 UTC).
inline constexpr int64_t kPostgresEpochMicros = 946684800LL * 1000000LL;
/// Days between 1970-01-01 and 2000-01-01.
inline constexpr int32_t kPostgresEpochDays = 10957;

/// The bytes a CopyBuffer holds: grows geometrically and never shrinks, so a batch's buffer
/// reaches its working size once. Appends are inline copies of a few bytes; std::string
/// paid a call to memcpy and a capacity check through _M_append for each 2-8 byte field,
/// about 5% of the daemon's CPU.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer& other) { append(other.data_.get(), other.size_); }
  ByteBuffer& operator=(const ByteBuffer& other) {
    if (this != &other) {
      size_ = 0;
      append(other.data_.get(), other.size_);
    }
    return *this;
  }
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  void append(const char* bytes, size_t count) {
    if (count == 0) return;
    std::memcpy(extend(count), bytes, count);
  }
  void push_back(char byte) { *extend(1) = byte; }
  /// `count` more bytes at the end, for the caller to fill.
  char* extend(size_t count) {
    if (capacity_ - size_ < count) grow(count);
    char* at = data_.get() + size_;
    size_ += count;
    return at;
  }
  size_t size() const { return size_; }
  /// Keeps the first `size` bytes (no-op when it holds fewer).
  void truncate(size_t size) { size_ = std::min(size, size_); }
  void clear() { size_ = 0; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  void grow(size_t count);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

/// Tuples appended one after another, without the stream header and trailer, so that
/// a writer can send any subset of them (after key reduction) in any framing.
class CopyBuffer {
 public:
  /// Starts a tuple of `field_count` fields; the caller then appends exactly that many.
  void begin_tuple(int16_t field_count);

  void append_null();
  void append_int16(int16_t value);
  void append_int32(int32_t value);
  void append_int64(int64_t value);
  void append_float32(float value);
  void append_float64(double value);
  void append_bool(bool value);
  /// text, json, bytea: the bytes as they are.
  void append_bytes(std::string_view bytes);
  /// jsonb: version byte 1 followed by the JSON text.
  void append_jsonb(std::string_view json_text);
  void append_uuid(const std::array<uint8_t, 16>& uuid);
  /// date: days since 2000-01-01.
  void append_date(int32_t days_since_postgres_epoch);
  /// timestamp and timestamptz: microseconds since 2000-01-01 00:00:00 (UTC for timestamptz).
  void append_timestamp(int64_t micros_since_postgres_epoch);
  /// time: microseconds since midnight.
  void append_time(int64_t micros_of_day);
  /// numeric, from a decimal literal (JSON number syntax: `-12.5e3`, also NaN).
  /// Returns false, appending nothing, when the text is not a decimal number or is
  /// beyond numeric's range (PostgreSQL's digit limits, exponents past ±100000).
  bool append_numeric(std::string_view decimal_text);

  size_t size() const { return bytes_.size(); }
  /// Drops everything after `size`: how a half-encoded tuple is undone.
  void truncate(size_t size) { bytes_.truncate(size); }
  void clear() { bytes_.clear(); }
  std::string_view view() const { return bytes_.view(); }

 private:
  ByteBuffer bytes_;
};

/// The value bytes of field `index` of the tuple that starts at `tuple`
/// (nullopt for NULL). `tuple` must hold a whole tuple written by CopyBuffer.
std::optional<std::string_view> tuple_field(std::string_view tuple, int index);

/// Orders two non-NULL binary values of one column type the way PostgreSQL's `<`
/// does: <0, 0, >0. Defined for the ordered types allowed in upsert_when_newer:
/// smallint, integer, bigint, real, double, numeric, date, time, timestamp, timestamptz.
int compare_binary_values(ColumnType type, std::string_view a, std::string_view b);

/// Whether two non-NULL binary values of one primary-key column name the same row, as
/// PostgreSQL's `=` decides it: numeric ignores scale and exponent (1 = 1.0 = 1e0) and
/// has no negative zero; real and double hold 0 = -0 and NaN = NaN; every other type
/// equals bytewise, because its send format is already canonical (timestamptz is UTC
/// microseconds whatever offset was written, uuid is 16 bytes whatever the case of its
/// text). jsonb compares bytewise here though PostgreSQL compares it by value (key
/// order, number scale): two jsonb keys that differ only so reach PostgreSQL as two
/// rows, and the writer narrows the batch down when it refuses them (SQLSTATE 21000).
bool binary_values_equal(ColumnType type, std::string_view a, std::string_view b);

/// A hash of a non-NULL binary value consistent with binary_values_equal: values it
/// calls equal hash alike.
size_t hash_binary_value(ColumnType type, std::string_view value);

}  // namespace kps
