#pragma once
// Small helpers shared by the pipeline-stage tests: a clock moved by hand and
// RecordView/config builders.

#include <string>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/record.h"

namespace kps::testing {

class ManualClock final : public Clock {
 public:
  time_point now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  time_point now_{};
};

inline RecordView record(std::string_view topic, int32_t partition, int64_t offset,
                         std::optional<std::string_view> value, std::optional<std::string_view> key = std::nullopt) {
  RecordView view;
  view.topic = topic;
  view.partition = partition;
  view.offset = offset;
  view.value = value;
  view.key = key;
  return view;
}

inline ColumnConfig column(std::string name, std::string pointer, ColumnType type, bool nullable = false) {
  ColumnConfig config;
  config.name = std::move(name);
  config.source = ColumnSource{ColumnSource::Kind::JsonPointer, std::move(pointer)};
  config.type = type;
  config.nullable = nullable;
  return config;
}

/// A sink on topic "events" with columns id bigint (/id) and v bigint (/v).
inline SinkConfig id_value_sink(WriteMode mode) {
  SinkConfig sink;
  sink.topic = "events";
  sink.table = {"public", "events"};
  sink.mode = mode;
  sink.columns = {column("id", "/id", ColumnType::BigInt), column("v", "/v", ColumnType::BigInt, true)};
  if (mode != WriteMode::Insert) {
    sink.primary_key = {"id"};
    sink.primary_key_columns = {0};
  }
  return sink;
}

}  // namespace kps::testing
