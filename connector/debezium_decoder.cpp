#include "connector/debezium_decoder.h"

// Interface first: the envelope reader lands with the change-data-capture work.

namespace kps {

struct DebeziumDecoder::State {};

DebeziumDecoder::DebeziumDecoder(const SinkConfig& route) : route_(route), state_(std::make_unique<State>()) {}
DebeziumDecoder::~DebeziumDecoder() = default;

std::variant<DecodedChange, DecodeError> DebeziumDecoder::decode(const RecordView&, CopyBuffer&,
                                                                 std::vector<UnknownField>*) {
  return DecodeError{"", "format: debezium is not implemented yet", DecodeFailure::InvalidValue};
}

std::optional<std::vector<std::string>> DebeziumDecoder::key_fields(const RecordView&) { return std::nullopt; }

std::optional<TableShape> DebeziumDecoder::table_shape(const RecordView&, std::string* why_not) {
  if (why_not != nullptr) *why_not = "format: debezium is not implemented yet";
  return std::nullopt;
}

}  // namespace kps
