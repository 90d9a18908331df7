#include "connector/catch_up.h"

#include <algorithm>

namespace kps {

CatchUpTracker::CatchUpTracker(std::vector<CatchUpTarget> targets) {
  entries_.reserve(targets.size());
  for (CatchUpTarget& target : targets) {
    Entry entry{std::move(target), std::nullopt, std::nullopt, false};
    // No record below the mark exists any more (empty, or all expired): nothing to wait for.
    entry.done = entry.target.high_watermark <= entry.target.low_watermark;
    if (!entry.done) ++remaining_;
    entries_.push_back(std::move(entry));
  }
}

CatchUpTracker::Entry* CatchUpTracker::find(const TopicPartition& tp) {
  for (Entry& entry : entries_) {
    if (entry.target.topic_partition == tp) return &entry;
  }
  return nullptr;  // a partition created after start: not part of the finish line
}

void CatchUpTracker::mark_done(Entry& entry) {
  if (entry.done) return;
  entry.done = true;
  --remaining_;
}

void CatchUpTracker::note_stored(const TopicPartition& tp, int64_t stored_next_offset) {
  Entry* entry = find(tp);
  if (entry == nullptr) return;
  entry->stored_next_offset = std::max(entry->stored_next_offset.value_or(stored_next_offset), stored_next_offset);
  if (*entry->stored_next_offset >= entry->target.high_watermark) mark_done(*entry);
}

void CatchUpTracker::note_partition_end(const TopicPartition& tp, int64_t end_offset) {
  Entry* entry = find(tp);
  if (entry == nullptr) return;
  entry->end_offset_seen = std::max(entry->end_offset_seen.value_or(end_offset), end_offset);
}

void CatchUpTracker::forget_fetched() {
  for (Entry& entry : entries_) entry.end_offset_seen.reset();
}

void CatchUpTracker::settle(const std::function<bool(const TopicPartition&)>& has_unwritten_records) {
  for (Entry& entry : entries_) {
    if (!entry.done && entry.end_offset_seen && *entry.end_offset_seen >= entry.target.high_watermark &&
        !has_unwritten_records(entry.target.topic_partition)) {
      mark_done(entry);
    }
  }
}

int64_t CatchUpTracker::remaining_records() const {
  int64_t remaining = 0;
  for (const Entry& entry : entries_) {
    if (entry.done) continue;
    const int64_t progress = std::max(entry.stored_next_offset.value_or(entry.target.low_watermark),
                                      entry.target.low_watermark);
    remaining += std::max<int64_t>(0, entry.target.high_watermark - progress);
  }
  return remaining;
}

bool CatchUpTracker::all_fetched() const {
  return std::all_of(entries_.begin(), entries_.end(), [](const Entry& entry) {
    return entry.done || (entry.end_offset_seen && *entry.end_offset_seen >= entry.target.high_watermark);
  });
}

}  // namespace kps
