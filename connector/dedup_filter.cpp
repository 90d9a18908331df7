#include "connector/dedup_filter.h"

#include <algorithm>
#include <string>

#include "connector/failpoint.h"
#include "connector/log.h"

namespace kps {

namespace {
constexpr size_t kIdentityChunkBytes = 64 * 1024;
}  // namespace

bool IdentitySet::insert(std::string_view identity) {
  if (set_.find(identity) != set_.end()) return false;
  set_.insert(store(identity));
  return true;
}

void IdentitySet::clear() {
  set_.clear();
  // Keep one chunk: a steady stream of batches then allocates no chunk at all.
  chunks_.resize(std::min<size_t>(chunks_.size(), 1));
  chunk_sizes_.resize(chunks_.size());
  used_in_last_chunk_ = 0;
}

std::string_view IdentitySet::store(std::string_view identity) {
  if (chunks_.empty() || used_in_last_chunk_ + identity.size() > chunk_sizes_.back()) {
    const size_t size = std::max(kIdentityChunkBytes, identity.size());
    chunks_.push_back(std::make_unique<char[]>(size));
    chunk_sizes_.push_back(size);
    used_in_last_chunk_ = 0;
  }
  char* destination = chunks_.back().get() + used_in_last_chunk_;
  std::copy(identity.begin(), identity.end(), destination);
  used_in_last_chunk_ += identity.size();
  return {destination, identity.size()};
}

bool BatchClaims::any_left_out() const { return std::any_of(claims.begin(), claims.end(), left_out_by_dedup); }

void BatchClaims::give_up(const std::vector<bool>& excluded) {
  if (by_row.empty()) return;
  IdentitySet kept;
  for (size_t index = 0; index < by_row.size(); ++index) {
    DedupClaim& claim = claims[index];
    if (claim != DedupClaim::Claimant && claim != DedupClaim::PendingOnBatch) continue;
    if (excluded[index]) {
      claim = DedupClaim::None;  // not written, not applied: fetched again or dead-lettered
      by_row[index] = {};
      continue;
    }
    claim = kept.insert(by_row[index]) ? DedupClaim::Claimant : DedupClaim::PendingOnBatch;
    by_row[index] = kept.stored(by_row[index]);
  }
  std::swap(identities, kept);
}

uint64_t BatchClaims::mark_duplicates(std::vector<bool>& duplicate_rows, size_t rows) {
  // Pending duplicates still left out are duplicates of rows this write applied (those
  // judged against the previous write were counted then).
  uint64_t newly_dropped = 0;
  for (size_t index = 0; index < claims.size(); ++index) {
    const DedupClaim claim = claims[index];
    if (claim != DedupClaim::PendingOnBatch && claim != DedupClaim::Duplicate) continue;
    if (duplicate_rows.empty()) duplicate_rows.assign(rows, false);
    duplicate_rows[index] = true;
    if (claim == DedupClaim::Duplicate) continue;
    ++newly_dropped;
  }
  dropped += newly_dropped;
  return newly_dropped;
}

void BatchClaims::clear() {
  identities.clear();
  by_row.clear();
  claims.clear();
  dropped = 0;
}

DedupFilter::DedupFilter(size_t sink_index, std::chrono::seconds ttl, DedupIndex& index,
                         std::function<int64_t()> unix_seconds)
    : sink_index_(sink_index), ttl_(ttl), index_(index), unix_seconds_(std::move(unix_seconds)) {}

DedupClaim DedupFilter::claim(std::string_view identity, bool trust_store, const BatchClaims* in_flight,
                              std::string_view& stored) {
  stored = {};
  if (identity.empty()) return DedupClaim::None;  // no identity: never dropped
  if (replay_identities_.contains(identity) || (trust_store && index_.contains(sink_index_, identity))) {
    return DedupClaim::Duplicate;
  }
  if (in_flight != nullptr && (in_flight->identities.contains(identity) || awaiting_.contains(identity))) {
    // The write in flight may yet have that row refused. Later records of the identity wait
    // too (even once a rewrite gave it up), so that the first of them takes its place.
    awaiting_.insert(identity);
    stored = awaiting_.stored(identity);
    return DedupClaim::PendingOnInFlight;
  }
  const bool first = batch_.identities.insert(identity);
  stored = batch_.identities.stored(identity);
  return first ? DedupClaim::Claimant : DedupClaim::PendingOnBatch;
}

void DedupFilter::hand_over(BatchClaims& write) {
  std::swap(write, batch_);
  batch_.clear();  // the write's old buffers, emptied when it was taken in
}

uint64_t DedupFilter::judge_pending(const IdentitySet& applied) {
  uint64_t dropped = 0;
  for (size_t index = 0; index < batch_.claims.size(); ++index) {
    DedupClaim& claim = batch_.claims[index];
    if (claim != DedupClaim::PendingOnInFlight) continue;
    const std::string_view identity = batch_.by_row[index];
    if (applied.contains(identity)) {
      claim = DedupClaim::Duplicate;
      batch_.by_row[index] = {};
      ++dropped;
    } else if (batch_.identities.insert(identity)) {
      // The row that claimed it was refused: the first record after it takes its place.
      claim = DedupClaim::Claimant;
      batch_.by_row[index] = batch_.identities.stored(identity);
    } else {
      claim = DedupClaim::PendingOnBatch;
      batch_.by_row[index] = batch_.identities.stored(identity);
    }
  }
  batch_.dropped += dropped;
  awaiting_.clear();  // no row points into it any more
  return dropped;
}

void DedupFilter::record_applied(const IdentitySet& applied,
                                 std::vector<std::pair<TopicPartition, int64_t>> complete_up_to) {
  if (recording_failed_) return;
  DedupUpdate update;
  update.sink = sink_index_;
  update.applied_at_seconds = unix_seconds_();
  update.identities = applied.views();
  update.complete_up_to = std::move(complete_up_to);
  record(update);
}

bool DedupFilter::within_ttl(std::optional<int64_t> timestamp_ms) const {
  return !timestamp_ms || *timestamp_ms / 1000 >= unix_seconds_() - static_cast<int64_t>(ttl_.count());
}

void DedupFilter::note_replayed(const TopicPartition& tp, int64_t complete_up_to) {
  auto progress = std::find_if(replay_progress_.begin(), replay_progress_.end(),
                               [&](const auto& entry) { return entry.first == tp; });
  if (progress == replay_progress_.end()) {
    replay_progress_.emplace_back(tp, complete_up_to);
  } else {
    progress->second = std::max(progress->second, complete_up_to);
  }
}

void DedupFilter::record_replayed() {
  if (replay_progress_.empty()) return;
  if (!recording_failed_) {
    DedupUpdate update;
    update.sink = sink_index_;
    update.applied_at_seconds = unix_seconds_();
    update.identities = replay_identities_.views();
    update.complete_up_to = replay_progress_;
    record(update);
  }
  replay_identities_.clear();
  replay_progress_.clear();
}

void DedupFilter::record(const DedupUpdate& update) {
  failpoint("before_dedup_write");
  if (const Status status = index_.record(update); !status) {
    // Markers stop moving from here on, so the next start re-reads the gap from Kafka:
    // coverage is lost for this run, never correctness.
    recording_failed_ = true;
    log::error("dedup state write failed, no longer recording identities in this run: ", status.message());
  }
}

void DedupFilter::clear() {
  batch_.clear();
  awaiting_.clear();
  replay_identities_.clear();
  replay_progress_.clear();
}

}  // namespace kps
