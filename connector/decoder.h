#pragma once
// Turns a record into one binary COPY tuple for one sink's columns. decoder.cpp is the
// only file that includes simdjson; the parser and its padded input buffer are reused
// across records, so decoding allocates nothing per record once warmed up.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/record.h"

namespace kps {

/// Why a record is bad, as a metric label: a small fixed set.
///
/// Where the lines fall: a calendar field outside its range ("2026-02-30", "24:00:01",
/// month 13) is malformed text, InvalidValue; OutOfRange is a well-formed value the
/// column cannot hold. Integer columns take integer literals only, as PostgreSQL's
/// integer input does: 1.5, 1e2 and 100.0 are InvalidValue. Invalid UTF-8, a lone
/// surrogate escape (\ud800) or a raw control character anywhere in a record's value
/// makes the whole value InvalidJson, whichever column (if any) would read it.
enum class DecodeFailure {
  InvalidJson,   // "invalid_json": not parseable, invalid UTF-8, nesting deeper than the parser allows
  NotAnObject,   // "not_an_object"
  MissingValue,  // "missing_value": a non-nullable column's value is absent or null
  WrongType,     // "wrong_type": e.g. a string for a bigint column, an object for text
  OutOfRange,    // "out_of_range": int overflow, 1e400, a date beyond PostgreSQL's range
  InvalidValue,  // "invalid_value": 1.5 into bigint, bad timestamp/date/uuid/base64 text, NUL in text
  Tombstone,     // "unexpected_tombstone": null value without delete_on_tombstone (set by the pipeline)
  InvalidKey,    // "invalid_key": a tombstone whose key does not name the primary key
  TooLarge,      // "too_large": bigger than errors.max_record_bytes (set by the pipeline)
};
/// The quoted strings above; static, never null.
const char* decode_failure_name(DecodeFailure failure);

/// Why a record could not be decoded. The caller adds topic, partition and offset.
struct DecodeError {
  std::string column;  // the failing column's name; empty when the record as a whole is bad
  std::string reason;  // e.g. "value 1.5 is not an integer", "missing non-nullable value"
  DecodeFailure failure = DecodeFailure::InvalidValue;
};

class Decoder {
 public:
  /// `sink` must outlive the decoder and must have passed validation.
  explicit Decoder(const SinkConfig& sink);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  /// Appends one tuple holding every column of the sink, in `sink.columns` order,
  /// for a record whose value is a JSON object. On error nothing is appended.
  /// With `identity` given (a sink with dedup fields), also sets it to the record's
  /// dedup identity: each dedup field's JSON value in a canonical form (numbers by
  /// exact value, so 1, 1.0 and 1e0 are one identity; strings by content),
  /// length-prefixed; empty when a field is missing or null, since such a record cannot
  /// be told apart from others.
  std::optional<DecodeError> decode_value(const RecordView& record, CopyBuffer& out,
                                          std::string* identity = nullptr);

  /// For a tombstone: appends one tuple whose primary-key columns come from the
  /// record key (a JSON object holding them by column name, or for a one-column key
  /// the bare value) and whose other columns are NULL. On error nothing is appended.
  /// Every error here is InvalidKey, whatever is wrong with the key (absent, not JSON
  /// where it must be, a field missing, of the wrong type or out of range): the reason
  /// says which, the label says that the key cannot name a row.
  std::optional<DecodeError> decode_tombstone_key(const RecordView& record, CopyBuffer& out);

  /// For a sink with columns by name: the top-level members of the last record
  /// decode_value() read that no column takes (they are ignored), in record order. Empty
  /// for other sinks. Valid until the next decode.
  std::span<const std::string_view> ignored_fields() const;

 private:
  struct State;
  const SinkConfig& sink_;
  std::unique_ptr<State> state_;
};

/// The simdjson version string, for --version.
const char* simdjson_version();

/// For the startup log: the simdjson kernel that runtime dispatch picked for this CPU
/// ("icelake", "haswell", "westmere", "fallback"). The on-demand parser takes its stage 1
/// and its string unescaping from it; only the front end is compiled into the decoder.
std::string simdjson_kernel();

}  // namespace kps
