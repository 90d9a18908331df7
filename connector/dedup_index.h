#pragma once
// The dedup state as the pipeline sees it: plain types and one interface, so the
// pipeline and its tests compile without RocksDB. DedupStore implements it.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// One committed batch's worth of dedup facts, written atomically: afterwards every
/// identity and every marker below is durable, or none of them is.
struct DedupUpdate {
  size_t sink = 0;                           // index into Config::sinks
  std::vector<std::string_view> identities;  // applied by the batch; views valid during the call
  /// Per partition: every identity of this sink below this offset is recorded.
  std::vector<std::pair<TopicPartition, int64_t>> complete_up_to;
  int64_t applied_at_seconds = 0;  // Unix seconds the batch committed; the TTL counts from here
};

class DedupIndex {
 public:
  virtual ~DedupIndex() = default;
  /// Was `identity` applied to `sink` within the sink's TTL?
  virtual bool contains(size_t sink, std::string_view identity) = 0;
  /// Records identities only after the PostgreSQL transaction that applied them committed.
  virtual Status record(const DedupUpdate& update) = 0;
  /// The offset below which `sink`'s identities from `tp` are all recorded; nullopt if never.
  virtual std::optional<int64_t> complete_up_to(size_t sink, const TopicPartition& tp) const = 0;
};

}  // namespace kps
