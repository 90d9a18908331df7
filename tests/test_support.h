#pragma once
// Small helpers shared by the pipeline-stage tests: a clock moved by hand and
// RecordView/config builders.

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/dedup_index.h"
#include "connector/record.h"

namespace kps::testing {

/// Moved by hand; sleep_for() moves it instead of blocking. Thread-safe, so an adapter's
/// background thread (the HTTP server's) may read it while the test moves it.
class ManualClock final : public Clock {
 public:
  time_point now() const override {
    return time_point(time_point::duration(ticks_.fetch_add(step_.load(), std::memory_order_relaxed)));
  }
  void sleep_for(std::chrono::milliseconds duration) const override { advance(duration); }
  void advance(std::chrono::milliseconds by) const {
    ticks_.fetch_add(std::chrono::duration_cast<time_point::duration>(by).count(), std::memory_order_relaxed);
  }
  /// From now on every reading moves the clock forward by `step` (after answering): a loop
  /// that waits for a deadline by reading the clock sees it pass in a few turns.
  void advance_on_every_read(std::chrono::milliseconds step) {
    step_.store(std::chrono::duration_cast<time_point::duration>(step).count());
  }

 private:
  mutable std::atomic<time_point::rep> ticks_{0};
  std::atomic<time_point::rep> step_{0};
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

/// A column as the config would describe it: `path` is a JSON pointer or an @ source.
inline ColumnConfig column(std::string name, std::string path, ColumnType type, bool nullable = false) {
  ColumnConfig config;
  config.name = std::move(name);
  config.type = type;
  config.nullable = nullable;
  using Kind = ColumnSource::Kind;
  if (path == "@key") {
    config.source = {Kind::Key, ""};
  } else if (path == "@topic") {
    config.source = {Kind::Topic, ""};
  } else if (path == "@partition") {
    config.source = {Kind::Partition, ""};
  } else if (path == "@offset") {
    config.source = {Kind::Offset, ""};
  } else if (path == "@timestamp") {
    config.source = {Kind::Timestamp, ""};
  } else if (path.rfind("@header:", 0) == 0) {
    config.source = {Kind::Header, path.substr(8)};
  } else {
    config.source = {Kind::JsonPointer, path};
  }
  return config;
}

/// A sink on topic "events" with these columns; the primary key names some of them.
inline SinkConfig sink_with(std::vector<ColumnConfig> columns, std::vector<std::string> primary_key = {}) {
  SinkConfig sink;
  sink.topic = "events";
  sink.table = {"public", "events"};
  sink.columns = std::move(columns);
  sink.primary_key = std::move(primary_key);
  for (const std::string& name : sink.primary_key) {
    for (size_t i = 0; i < sink.columns.size(); ++i) {
      if (sink.columns[i].name == name) sink.primary_key_columns.push_back(i);
    }
  }
  return sink;
}

/// A record of topic "events", partition 3, offset 42, with a timestamp and this value.
inline RecordView record_with(std::optional<std::string_view> value) {
  RecordView record;
  record.topic = "events";
  record.partition = 3;
  record.offset = 42;
  record.timestamp_ms = 1700000000000;
  record.value = value;
  return record;
}

/// Bytes as space-separated hex pairs, for readable failure messages.
inline std::string hex(std::string_view bytes) {
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

/// An in-memory dedup state that remembers what was recorded, and fails on cue.
class FakeDedup final : public DedupIndex {
 public:
  bool contains(size_t sink, std::string_view identity) override {
    return known.count({sink, std::string(identity)}) > 0;
  }
  Status record(const DedupUpdate& update) override {
    if (fail_next) {
      fail_next = false;
      return Status::error(ErrorKind::Transient, "disk full", "IOError");
    }
    for (const std::string_view identity : update.identities) known.insert({update.sink, std::string(identity)});
    for (const auto& [tp, offset] : update.complete_up_to) markers[tp] = offset;
    ++updates;
    return Status::ok();
  }
  std::optional<int64_t> complete_up_to(size_t, const TopicPartition& tp) const override {
    const auto found = markers.find(tp);
    return found == markers.end() ? std::nullopt : std::optional<int64_t>(found->second);
  }

  std::set<std::pair<size_t, std::string>> known;
  std::map<TopicPartition, int64_t> markers;
  int updates = 0;
  bool fail_next = false;
};

}  // namespace kps::testing
