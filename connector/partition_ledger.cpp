#include "connector/partition_ledger.h"

namespace kps {

PartitionLedger::TopicEntry& PartitionLedger::entry(std::string_view topic) {
  auto found = topics_.find(topic);
  if (found != topics_.end()) return found->second;
  return topics_.emplace(std::string(topic), TopicEntry{}).first->second;
}

const PartitionLedger::TopicEntry* PartitionLedger::find_entry(std::string_view topic) const {
  const auto found = topics_.find(topic);
  return found == topics_.end() ? nullptr : &found->second;
}

void PartitionLedger::own(const TopicPartition& tp, const PartitionStart& start, uint32_t lane) {
  if (tp.partition < 0) return;
  TopicEntry& topic = entry(tp.topic);
  const auto index = static_cast<size_t>(tp.partition);
  if (index >= topic.partitions.size()) topic.partitions.resize(index + 1);
  PartitionFacts& facts = topic.partitions[index];
  facts = PartitionFacts{};
  facts.owned = true;
  facts.lane = lane;
  facts.stored_next_offset = start.stored_next_offset;
  facts.next_offset_to_consume = start.first_offset_to_fetch ? start.first_offset_to_fetch : start.stored_next_offset;
  facts.dedup_untrusted_below = start.dedup_untrusted_below;
  facts.last_applied = start.last_applied;
  if (start.last_applied &&
      (!facts.next_offset_to_consume || *facts.next_offset_to_consume > start.last_applied->offset)) {
    // Fetched from the last applied record on, only to compare it with the log.
    facts.next_offset_to_consume = start.last_applied->offset;
    facts.fetching_only_for_check = true;
  }
}

void PartitionLedger::forget(const TopicPartition& tp) {
  if (tp.partition < 0) return;
  TopicEntry& topic = entry(tp.topic);
  const auto index = static_cast<size_t>(tp.partition);
  if (index < topic.partitions.size()) {
    const PartitionFacts& facts = topic.partitions[index];
    if (facts.owned && facts.stored_next_offset) {
      released_durable_.push_back({tp, *facts.stored_next_offset, facts.lane});
    }
    topic.partitions[index] = PartitionFacts{};
  }
  if (index < topic.first_fetched.size()) topic.first_fetched[index].reset();
}

void PartitionLedger::forget_lane(uint32_t lane) {
  for (auto& [name, topic] : topics_) {
    for (PartitionFacts& facts : topic.partitions) {
      if (facts.owned && facts.lane == lane) facts = PartitionFacts{};
    }
  }
  std::erase_if(released_durable_, [&](const Released& released) { return released.lane == lane; });
}

PartitionFacts* PartitionLedger::find(std::string_view topic, int32_t partition) {
  const auto found = topics_.find(topic);
  if (found == topics_.end() || partition < 0 || static_cast<size_t>(partition) >= found->second.partitions.size()) {
    return nullptr;
  }
  PartitionFacts& facts = found->second.partitions[static_cast<size_t>(partition)];
  return facts.owned ? &facts : nullptr;
}

const PartitionFacts* PartitionLedger::find(const TopicPartition& tp) const {
  const TopicEntry* topic = find_entry(tp.topic);
  if (topic == nullptr || tp.partition < 0 || static_cast<size_t>(tp.partition) >= topic->partitions.size()) {
    return nullptr;
  }
  const PartitionFacts& facts = topic->partitions[static_cast<size_t>(tp.partition)];
  return facts.owned ? &facts : nullptr;
}

Arrival PartitionLedger::classify(PartitionFacts& facts, const RecordView& record, LastAppliedRecord* expected) {
  if (!facts.owned) return Arrival::NotOwned;
  // librdkafka may repeat records around a resume: below where consuming goes on, handled.
  if (facts.next_offset_to_consume && record.offset < *facts.next_offset_to_consume) return Arrival::Redelivered;
  if (facts.last_applied && record.offset >= facts.last_applied->offset) {
    const LastAppliedRecord applied = *std::exchange(facts.last_applied, std::nullopt);
    // The first record fetched at or after it: compared only when it is that very record
    // (retention or compaction may have removed it; then nothing can be compared).
    if (record.offset == applied.offset && record.timestamp_ms != applied.timestamp_ms) {
      if (expected != nullptr) *expected = applied;
      return Arrival::LogReplaced;
    }
    if (std::exchange(facts.fetching_only_for_check, false) && facts.stored_next_offset &&
        record.offset < *facts.stored_next_offset) {
      return Arrival::CheckedOnly;
    }
  }
  if (facts.stored_next_offset && record.offset < *facts.stored_next_offset) return Arrival::AlreadyApplied;
  return Arrival::New;
}

void PartitionLedger::note_fetched(std::string_view topic_name, int32_t partition, int64_t offset) {
  if (partition < 0) return;
  TopicEntry& topic = entry(topic_name);
  const auto index = static_cast<size_t>(partition);
  if (index >= topic.first_fetched.size()) topic.first_fetched.resize(index + 1);
  if (!topic.first_fetched[index]) topic.first_fetched[index] = offset;
}

std::optional<int64_t> PartitionLedger::first_offset_fetched(const TopicPartition& tp) const {
  const TopicEntry* topic = find_entry(tp.topic);
  if (topic == nullptr || tp.partition < 0 || static_cast<size_t>(tp.partition) >= topic->first_fetched.size()) {
    return std::nullopt;
  }
  return topic->first_fetched[static_cast<size_t>(tp.partition)];
}

void PartitionLedger::note_durable(const TopicPartition& tp, int64_t next_offset) {
  PartitionFacts* facts = find(tp.topic, tp.partition);
  // A partition revoked meanwhile was waited for before it was forgotten, so this write
  // belongs to the current owner; nothing is noted for one that is not owned.
  if (facts == nullptr) return;
  facts->stored_next_offset = next_offset;
  facts->commit_pending = true;
}

std::vector<std::pair<TopicPartition, int64_t>> PartitionLedger::take_durable(std::optional<uint32_t> lane) {
  std::vector<std::pair<TopicPartition, int64_t>> durable;
  for (auto& [name, topic] : topics_) {
    for (size_t partition = 0; partition < topic.partitions.size(); ++partition) {
      PartitionFacts& facts = topic.partitions[partition];
      if (!facts.owned || !facts.commit_pending || !facts.stored_next_offset) continue;
      if (lane && facts.lane != *lane) continue;
      durable.push_back({TopicPartition{name, static_cast<int32_t>(partition)}, *facts.stored_next_offset});
      facts.commit_pending = false;
    }
  }
  return durable;
}

std::vector<std::pair<TopicPartition, int64_t>> PartitionLedger::take_released() {
  std::vector<std::pair<TopicPartition, int64_t>> released;
  for (Released& entry : released_durable_) released.emplace_back(std::move(entry.topic_partition), entry.next_offset);
  released_durable_.clear();
  return released;
}

std::optional<int64_t> PartitionLedger::stored_next_offset(const TopicPartition& tp) const {
  const PartitionFacts* facts = find(tp);
  return facts ? facts->stored_next_offset : std::nullopt;
}

std::optional<uint32_t> PartitionLedger::lane_of(const TopicPartition& tp) const {
  const PartitionFacts* facts = find(tp);
  return facts ? std::optional<uint32_t>(facts->lane) : std::nullopt;
}

std::vector<size_t> PartitionLedger::partitions_per_lane(size_t lanes) const {
  std::vector<size_t> counts(lanes, 0);
  for (const auto& [name, topic] : topics_) {
    for (const PartitionFacts& facts : topic.partitions) {
      if (facts.owned && facts.lane < lanes) ++counts[facts.lane];
    }
  }
  return counts;
}

}  // namespace kps
