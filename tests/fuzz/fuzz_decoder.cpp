// libFuzzer target for kps::Decoder: whatever bytes arrive as a record's value, key
// and headers, decoding either appends one well-formed binary COPY tuple that
// PostgreSQL would accept, or appends nothing and says why.
//
// Input layout: byte 0 picks the sink and the record's shape; the rest is split at
// 0x1F (ASCII unit separator) into the value, the key and then the header values, in
// kHeaderNames order. Missing pieces are absent (null key, missing header).
//
//   bits 0-2  sink index, modulo the number of sinks
//   bit 3     tombstone: no value, decode_tombstone_key() instead of decode_value()
//   bit 4     the record has a timestamp
//   bit 5     the key is null even when the input has one
//   bit 6     an empty header piece is a header with a null value rather than ""
//   bit 7     extreme metadata: INT64 offset and timestamp limits, INT32 partition limit

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/decoder.h"
#include "connector/record.h"
#include "connector/value_text.h"

namespace kps {
namespace {

// Sinks covering every column type, every metadata source (also converted to other
// types), nullable and non-nullable columns, composite, single-column and @key
// primary keys (the tombstone paths) and dedup identities. Parsed by the real
// loader, so validation fills the derived fields.
constexpr std::string_view kConfig = R"yaml(
kafka: {bootstrap_servers: "localhost:9092"}
postgres: {dsn: "host=localhost"}
sinks:
  - topic: values
    table: every_type
    dedup: {fields: [/id, /nested/0/k]}
    columns:
      id:       {path: /id, type: bigint}
      small:    {path: /small, type: smallint, nullable: true}
      int:      {path: /int, type: integer, nullable: true}
      real:     {path: /real, type: real, nullable: true}
      double:   {path: /double, type: double, nullable: true}
      numeric:  {path: /numeric, type: numeric, nullable: true}
      flag:     {path: /flag, type: boolean, nullable: true}
      text:     {path: /text, type: text}
      uuid:     {path: /uuid, type: uuid, nullable: true}
      day:      {path: /day, type: date, nullable: true}
      ts:       {path: /ts, type: timestamp, nullable: true}
      tstz:     {path: /tstz, type: timestamptz, nullable: true}
      json:     {path: /json, type: json, nullable: true}
      jsonb:    {path: /jsonb, type: jsonb, nullable: true}
      bytes:    {path: /bytes, type: bytea, nullable: true}
      deep:     {path: "/nested/0/a~1b/~0c", type: text, nullable: true}
      indexed:  {path: /list/1, type: double, nullable: true}
  - topic: metadata
    table: metadata
    columns:
      key:       {path: "@key", type: jsonb, nullable: true}
      topic:     {path: "@topic", type: text}
      partition: {path: "@partition", type: integer}
      offset:    {path: "@offset", type: bigint}
      ts:        {path: "@timestamp", type: timestamptz, nullable: true}
      h_int:     {path: "@header:h_int", type: integer, nullable: true}
      h_text:    {path: "@header:h_text", type: text}
      h_json:    {path: "@header:h_json", type: json, nullable: true}
      h_bytea:   {path: "@header:h_bytea", type: bytea, nullable: true}
      h_uuid:    {path: "@header:h_uuid", type: uuid, nullable: true}
      h_date:    {path: "@header:h_date", type: date, nullable: true}
      h_ts:      {path: "@header:h_ts", type: timestamp, nullable: true}
      h_num:     {path: "@header:h_num", type: numeric, nullable: true}
      h_bool:    {path: "@header:h_bool", type: boolean, nullable: true}
      h_real:    {path: "@header:h_real", type: real, nullable: true}
      h_jsonb:   {path: "@header:h_jsonb", type: jsonb, nullable: true}
      h_small:   {path: "@header:h_small", type: smallint, nullable: true}
      value:     {path: /v, type: double, nullable: true}
  - topic: composite
    table: composite
    mode: upsert
    primary_key: [id, region]
    upsert_when_newer: ts
    delete_on_tombstone: true
    columns:
      id:     {path: /id, type: bigint}
      region: {path: /region, type: text}
      ts:     {path: /ts, type: timestamptz}
      body:   {path: /body, type: jsonb, nullable: true}
      day:    {path: /day, type: date, nullable: true}
  - topic: keyed
    table: keyed
    mode: insert_ignore
    primary_key: [k]
    delete_on_tombstone: true
    columns:
      k:      {path: "@key", type: uuid}
      amount: {path: /amount, type: numeric, nullable: true}
      blob:   {path: /blob, type: bytea, nullable: true}
  - topic: single
    table: single
    mode: upsert
    primary_key: [code]
    delete_on_tombstone: true
    columns:
      code:  {path: /code, type: numeric}
      label: {path: /label, type: text, nullable: true}
      seen:  {path: "@header:h_ts", type: timestamptz, nullable: true}
  - topic: conversions
    table: conversions
    columns:
      p_small:   {path: "@partition", type: smallint}
      o_numeric: {path: "@offset", type: numeric}
      o_text:    {path: "@offset", type: text}
      t_bigint:  {path: "@timestamp", type: bigint, nullable: true}
      k_text:    {path: "@key", type: text, nullable: true}
      k_bytea:   {path: "@key", type: bytea, nullable: true}
)yaml";

constexpr std::array<std::string_view, 13> kHeaderNames = {
    "h_int", "h_text", "h_json", "h_bytea", "h_uuid", "h_date", "h_ts",
    "h_num", "h_bool", "h_real", "h_jsonb", "h_small", "h_unused",
};
constexpr char kSeparator = '\x1f';

/// PostgreSQL's date range in days since 2000-01-01: julian day 0 up to, not
/// including, DATE_END_JULIAN (date_recv rejects anything else).
constexpr int64_t kMinPostgresDate = -2451545;
constexpr int64_t kEndPostgresDate = 2147483494LL - 2451545;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_decoder invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check(bool condition, const char* what, const std::string& detail = {}) {
  if (!condition) fail(what, detail);
}

uint32_t read_u32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

uint16_t read_u16(std::string_view bytes, size_t at) {
  return static_cast<uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) | static_cast<unsigned char>(bytes[at + 1]));
}

int64_t read_i64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return static_cast<int64_t>(value);
}

/// Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF), no NUL: what
/// PostgreSQL's text input accepts in a UTF8 database.
bool is_postgres_text(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0) return false;
    if (byte < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code_point = 0;
    if ((byte & 0xE0) == 0xC0) {
      length = 2;
      code_point = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      code_point = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      code_point = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || code_point > 0x10FFFF) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    i += length;
  }
  return true;
}

/// What PostgreSQL's binary receive function for `type` would accept, as far as it can
/// be told from the bytes alone.
void check_field(const ColumnConfig& column, std::string_view field) {
  const std::string where = "column " + column.name;
  auto expect_size = [&](size_t size) {
    check(field.size() == size, "field has the wrong size for its type",
          where + ": " + std::to_string(field.size()) + " bytes, expected " + std::to_string(size));
  };
  switch (column.type) {
    case ColumnType::SmallInt: expect_size(2); break;
    case ColumnType::Integer: expect_size(4); break;
    case ColumnType::BigInt: expect_size(8); break;
    case ColumnType::Real: {
      expect_size(4);
      const uint32_t bits = read_u32(field, 0);
      float value = 0;
      std::memcpy(&value, &bits, sizeof value);
      check(std::isfinite(value), "real is not finite", where);
      break;
    }
    case ColumnType::Double: {
      expect_size(8);
      const auto bits = static_cast<uint64_t>(read_i64(field));
      double value = 0;
      std::memcpy(&value, &bits, sizeof value);
      check(std::isfinite(value), "double is not finite", where);
      break;
    }
    case ColumnType::Boolean:
      expect_size(1);
      check(field[0] == 0 || field[0] == 1, "boolean is neither 0 nor 1", where);
      break;
    case ColumnType::Uuid: expect_size(16); break;
    case ColumnType::Date: {
      expect_size(4);
      const auto days = static_cast<int32_t>(read_u32(field, 0));
      check(days >= kMinPostgresDate && days < kEndPostgresDate, "date out of PostgreSQL's range",
            where + ": " + std::to_string(days));
      break;
    }
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz: {
      expect_size(8);
      const int64_t micros = read_i64(field);
      check(micros >= kMinPostgresTimestampMicros && micros < kEndPostgresTimestampMicros,
            "timestamp out of PostgreSQL's range", where + ": " + std::to_string(micros));
      break;
    }
    case ColumnType::Time: {
      expect_size(8);
      const int64_t micros = read_i64(field);
      check(micros >= 0 && micros <= kps::kMicrosPerDay, "time out of range", where + ": " + std::to_string(micros));
      break;
    }
    case ColumnType::Numeric: {
      // numeric_recv: ndigits, weight, sign, dscale, then ndigits base-10000 digits.
      check(field.size() >= 8, "numeric shorter than its header", where);
      const uint16_t ndigits = read_u16(field, 0);
      const uint16_t sign = read_u16(field, 4);
      const uint16_t dscale = read_u16(field, 6);
      expect_size(8 + 2 * size_t{ndigits});
      check(sign == 0x0000 || sign == 0x4000 || sign == 0xC000 || sign == 0xD000 || sign == 0xF000,
            "numeric has an invalid sign", where + ": " + std::to_string(sign));
      check(dscale <= 0x3FFF, "numeric display scale beyond 16383", where);
      for (size_t d = 0; d < ndigits; ++d) {
        check(read_u16(field, 8 + 2 * d) < 10000, "numeric digit beyond 9999", where);
      }
      break;
    }
    case ColumnType::Text:
    case ColumnType::Json:
      check(is_postgres_text(field), "text is not valid UTF-8 without NUL", where);
      break;
    case ColumnType::Jsonb:
      check(!field.empty() && field[0] == 1, "jsonb does not start with version 1", where);
      check(is_postgres_text(field.substr(1)), "jsonb text is not valid UTF-8 without NUL", where);
      break;
    case ColumnType::Bytea: break;
  }
}

/// Walks the tuple at `tuple_start` field by field: it must hold exactly one field per
/// column and end exactly at the end of the buffer.
void check_tuple(const SinkConfig& sink, std::string_view buffer, size_t tuple_start, bool tombstone) {
  const std::string_view tuple = buffer.substr(tuple_start);
  check(tuple.size() >= 2, "tuple shorter than its field count");
  check(read_u16(tuple, 0) == sink.columns.size(), "tuple field count differs from the sink's columns");
  size_t offset = 2;
  for (size_t index = 0; index < sink.columns.size(); ++index) {
    const ColumnConfig& column = sink.columns[index];
    check(offset + 4 <= tuple.size(), "tuple ends inside a field length", column.name);
    const auto length = static_cast<int32_t>(read_u32(tuple, offset));
    offset += 4;
    check(length >= -1, "negative field length other than NULL's -1", column.name);
    const std::optional<std::string_view> field = tuple_field(tuple, static_cast<int>(index));
    const bool is_key = std::find(sink.primary_key_columns.begin(), sink.primary_key_columns.end(), index) !=
                        sink.primary_key_columns.end();
    if (length == -1) {
      check(!field, "tuple_field disagrees: NULL read as a value", column.name);
      const bool may_be_null = column.nullable || (tombstone && !is_key);
      check(may_be_null, "NULL in a column that may not hold one", column.name);
      continue;
    }
    check(offset + static_cast<size_t>(length) <= tuple.size(), "field runs past the tuple", column.name);
    check(field && field->data() == tuple.data() + offset && field->size() == static_cast<size_t>(length),
          "tuple_field disagrees with the field walk", column.name);
    check(!tombstone || is_key, "a tombstone carries a value outside its primary key", column.name);
    check_field(column, *field);
    offset += static_cast<size_t>(length);
  }
  check(offset == tuple.size(), "bytes left after the tuple's last field");
}

/// Empty, or one (native-endian uint32 length, raw JSON) entry per dedup field.
void check_identity(const SinkConfig& sink, std::string_view identity) {
  if (!sink.dedup || identity.empty()) return;
  size_t offset = 0;
  for (size_t field = 0; field < sink.dedup->fields.size(); ++field) {
    check(offset + sizeof(uint32_t) <= identity.size(), "identity ends inside a length prefix");
    uint32_t size = 0;
    std::memcpy(&size, identity.data() + offset, sizeof size);
    offset += sizeof size;
    check(size > 0 && offset + size <= identity.size(), "identity entry is empty or runs past the end");
    offset += size;
  }
  check(offset == identity.size(), "bytes left after the identity's last entry");
}

/// A clear reason, safe to log: present, UTF-8, no control characters that could
/// forge a log line.
void check_error(const SinkConfig& sink, const DecodeError& error) {
  check(!error.reason.empty(), "decode error without a reason");
  check(is_postgres_text(error.reason), "error reason is not valid UTF-8", error.reason);
  for (const char c : error.reason) {
    check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, "control character in an error reason", error.reason);
  }
  if (error.column.empty()) return;
  bool known = false;
  for (const ColumnConfig& column : sink.columns) known = known || column.name == error.column;
  check(known, "decode error names a column the sink does not have", error.column);
}

struct Harness {
  Config config;
  std::vector<std::unique_ptr<Decoder>> decoders;
  CopyBuffer buffer;
  CopyBuffer replay;
  std::string identity;
  std::string replay_identity;

  Harness() : config(parse_config(kConfig, [](const std::string&) { return std::optional<std::string>(); })) {
    for (const SinkConfig& sink : config.sinks) decoders.push_back(std::make_unique<Decoder>(sink));
  }
};

Harness& harness() {
  static Harness* instance = new Harness();  // never destroyed: libFuzzer may exit from any thread
  return *instance;
}

std::vector<std::string_view> split(std::string_view input) {
  std::vector<std::string_view> pieces;
  while (true) {
    const size_t end = input.find(kSeparator);
    pieces.push_back(input.substr(0, end));
    if (end == std::string_view::npos) return pieces;
    input.remove_prefix(end + 1);
  }
}

void run_one(const uint8_t* data, size_t size) {
  if (size == 0) return;
  Harness& h = harness();
  const uint8_t shape = data[0];
  const size_t sink_index = (shape & 0x07u) % h.decoders.size();
  const bool tombstone = (shape & 0x08u) != 0;
  const bool extreme = (shape & 0x80u) != 0;
  const SinkConfig& sink = h.config.sinks[sink_index];
  Decoder& decoder = *h.decoders[sink_index];

  const std::vector<std::string_view> pieces = split({reinterpret_cast<const char*>(data + 1), size - 1});
  std::array<RecordHeader, kHeaderNames.size()> headers;
  size_t header_count = 0;
  for (size_t i = 2; i < pieces.size() && header_count < headers.size(); ++i, ++header_count) {
    headers[header_count].name = kHeaderNames[header_count];
    if (pieces[i].empty() && (shape & 0x40u) != 0) {
      headers[header_count].value = std::nullopt;
    } else {
      headers[header_count].value = pieces[i];
    }
  }

  RecordView record;
  record.topic = sink.topic;
  record.partition = extreme ? std::numeric_limits<int32_t>::max() : 3;
  record.offset = extreme ? std::numeric_limits<int64_t>::max() : 42;
  if ((shape & 0x10u) != 0) {
    record.timestamp_ms = extreme ? std::numeric_limits<int64_t>::min() : int64_t{1700000000123};
  }
  if (pieces.size() > 1 && (shape & 0x20u) == 0) record.key = pieces[1];
  if (!tombstone) record.value = pieces[0];
  record.headers = {headers.data(), header_count};

  // A previous tuple stays in the buffer, as in a batch: a failed decode must leave it
  // exactly as it was, and a new tuple must start right after it.
  h.buffer.clear();
  h.buffer.begin_tuple(1);
  h.buffer.append_int32(7);
  const std::string before(h.buffer.view());
  const bool wants_identity = sink.dedup.has_value() && !tombstone;

  std::optional<DecodeError> error = tombstone ? decoder.decode_tombstone_key(record, h.buffer)
                                               : decoder.decode_value(record, h.buffer,
                                                                      wants_identity ? &h.identity : nullptr);
  if (error) {
    check(h.buffer.view() == before, "a failed decode changed the buffer", error->reason);
    check_error(sink, *error);
  } else {
    check(h.buffer.view().substr(0, before.size()) == before, "a successful decode changed earlier bytes");
    check_tuple(sink, h.buffer.view(), before.size(), tombstone);
    if (wants_identity) check_identity(sink, h.identity);
  }

  // The decoder reuses its parser and scratch space: decoding the same record again
  // must give the same answer, byte for byte.
  h.replay.clear();
  std::optional<DecodeError> replayed = tombstone ? decoder.decode_tombstone_key(record, h.replay)
                                                  : decoder.decode_value(record, h.replay,
                                                                         wants_identity ? &h.replay_identity : nullptr);
  check(error.has_value() == replayed.has_value(), "decoding the same record twice gave different outcomes");
  if (error) {
    check(error->column == replayed->column && error->reason == replayed->reason,
          "decoding the same record twice gave different errors", error->reason + " / " + replayed->reason);
  } else {
    check(h.replay.view() == h.buffer.view().substr(before.size()), "decoding the same record twice gave different bytes");
    check(!wants_identity || h.identity == h.replay_identity, "decoding the same record twice gave different identities");
  }
}

}  // namespace
}  // namespace kps

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kps::run_one(data, size);
  return 0;
}
