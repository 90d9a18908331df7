#pragma once
// Turns a record into one binary COPY tuple for one sink's columns. decoder.cpp is the
// only file that includes simdjson; the parser and its padded input buffer are reused
// across records, so decoding allocates nothing per record once warmed up.

#include <memory>
#include <optional>
#include <string>

#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/record.h"

namespace kps {

/// Why a record could not be decoded. The caller adds topic, partition and offset.
struct DecodeError {
  std::string column;  // the failing column's name; empty when the record as a whole is bad
  std::string reason;  // e.g. "value 1.5 is not an integer", "missing non-nullable value"
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
  /// dedup identity: the raw JSON of each dedup field, length-prefixed; empty when a
  /// field is missing or null, since such a record cannot be told apart from others.
  std::optional<DecodeError> decode_value(const RecordView& record, CopyBuffer& out,
                                          std::string* identity = nullptr);

  /// For a tombstone: appends one tuple whose primary-key columns come from the
  /// record key (a JSON object holding them by column name, or for a one-column key
  /// the bare value) and whose other columns are NULL. On error nothing is appended.
  std::optional<DecodeError> decode_tombstone_key(const RecordView& record, CopyBuffer& out);

 private:
  struct State;
  const SinkConfig& sink_;
  std::unique_ptr<State> state_;
};

/// The simdjson version string, for --version.
const char* simdjson_version();

}  // namespace kps
