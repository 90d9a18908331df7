#pragma once
// Which writer lane a partition's records go to. A partition is pinned to one lane for as
// long as it is owned, so its rows and its offset always travel in that lane's transaction
// (per-partition order and the offsets' compare-and-set hold lane by lane). Pure logic:
// no threads, no I/O; used from the polling thread only.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connector/record.h"

namespace kps {

class LaneRouter {
 public:
  /// `lanes` >= 1.
  explicit LaneRouter(size_t lanes);

  /// Pins `tp` and returns its lane: the lane it is pinned to already, else lane 0 when
  /// `single_lane` (a dedup sink: its identity claims are decided inside one pipeline),
  /// else the lane with the fewest pinned partitions (the lowest index on a tie).
  size_t pin(const TopicPartition& tp, bool single_lane);
  /// Forgets `tp` (revoked or lost); its lane's load drops by one.
  void unpin(const TopicPartition& tp);
  /// The lane of a pinned partition; nullopt when it is not pinned.
  std::optional<size_t> lane_of(std::string_view topic, int32_t partition) const;
  std::optional<size_t> lane_of(const TopicPartition& tp) const { return lane_of(tp.topic, tp.partition); }
  size_t lanes() const { return load_.size(); }
  /// How many partitions are pinned to `lane`.
  size_t load(size_t lane) const { return load_[lane]; }

 private:
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };
  static constexpr int32_t kUnpinned = -1;
  // By topic, then by partition number: the hot path looks up a record's lane without
  // building a TopicPartition.
  std::unordered_map<std::string, std::vector<int32_t>, TransparentHash, std::equal_to<>> lanes_by_topic_;
  std::vector<size_t> load_;
};

}  // namespace kps
