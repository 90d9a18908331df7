#include "connector/lane_router.h"

#include <algorithm>

namespace kps {

LaneRouter::LaneRouter(size_t lanes) : load_(std::max<size_t>(lanes, 1), 0) {}

size_t LaneRouter::pin(const TopicPartition& tp, bool single_lane) {
  if (const std::optional<size_t> pinned = lane_of(tp)) return *pinned;
  size_t lane = 0;
  if (!single_lane) lane = static_cast<size_t>(std::min_element(load_.begin(), load_.end()) - load_.begin());
  auto found = lanes_by_topic_.find(std::string_view(tp.topic));
  if (found == lanes_by_topic_.end()) found = lanes_by_topic_.emplace(tp.topic, std::vector<int32_t>{}).first;
  std::vector<int32_t>& by_partition = found->second;
  const auto slot = static_cast<size_t>(tp.partition);
  if (by_partition.size() <= slot) by_partition.resize(slot + 1, kUnpinned);
  by_partition[slot] = static_cast<int32_t>(lane);
  ++load_[lane];
  return lane;
}

void LaneRouter::unpin(const TopicPartition& tp) {
  const auto found = lanes_by_topic_.find(std::string_view(tp.topic));
  if (found == lanes_by_topic_.end() || tp.partition < 0) return;
  std::vector<int32_t>& by_partition = found->second;
  const auto slot = static_cast<size_t>(tp.partition);
  if (slot >= by_partition.size() || by_partition[slot] == kUnpinned) return;
  --load_[static_cast<size_t>(by_partition[slot])];
  by_partition[slot] = kUnpinned;
}

std::optional<size_t> LaneRouter::lane_of(std::string_view topic, int32_t partition) const {
  const auto found = lanes_by_topic_.find(topic);
  if (found == lanes_by_topic_.end() || partition < 0) return std::nullopt;
  const std::vector<int32_t>& by_partition = found->second;
  const auto slot = static_cast<size_t>(partition);
  if (slot >= by_partition.size() || by_partition[slot] == kUnpinned) return std::nullopt;
  return static_cast<size_t>(by_partition[slot]);
}

}  // namespace kps
