#pragma once
// The dedup filter of one sink: which records are duplicates of ones already applied,
// decided by their identity. Only the durable dedup state (and identities re-read from
// Kafka) drop a record at once. An identity claimed only by the batch, or by the write in
// flight, may yet be refused by PostgreSQL, so a later record of it waits in the batch, left
// out of the write, until that is known. Identities are recorded in the dedup state only
// after the transaction that applied them committed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "connector/dedup_index.h"
#include "connector/record.h"

namespace kps {

/// Identities copied into chunks that never move, so the set can hold plain views.
class IdentitySet {
 public:
  /// Inserts `identity`; false when it was already there.
  bool insert(std::string_view identity);
  bool contains(std::string_view identity) const { return set_.find(identity) != set_.end(); }
  /// The set's own copy of `identity`, which must be in the set.
  std::string_view stored(std::string_view identity) const { return *set_.find(identity); }
  std::vector<std::string_view> views() const { return {set_.begin(), set_.end()}; }
  size_t size() const { return set_.size(); }
  void clear();

 private:
  std::string_view store(std::string_view identity);

  std::unordered_set<std::string_view> set_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<size_t> chunk_sizes_;
  size_t used_in_last_chunk_ = 0;
};

/// Where a row of a dedup sink stands with its identity.
enum class DedupClaim : uint8_t {
  None,               // no identity: always written
  Claimant,           // the first row of its identity: written
  PendingOnBatch,     // an earlier row of the batch claims it: written only if that one is not
  PendingOnInFlight,  // the write in flight claims it: judged once that write is taken in
  Duplicate,          // the identity was applied: never written
};

/// A pending or duplicate row is left out of the write.
inline bool left_out_by_dedup(DedupClaim claim) {
  return claim == DedupClaim::PendingOnBatch || claim == DedupClaim::PendingOnInFlight ||
         claim == DedupClaim::Duplicate;
}

/// The dedup side of one batch (being filled, or being written): what it claims.
struct BatchClaims {
  IdentitySet identities;                 // applied by the batch once it commits
  std::vector<std::string_view> by_row;   // by batch row; empty: not a dedup sink
  std::vector<DedupClaim> claims;         // by batch row
  uint64_t dropped = 0;                   // records of the batch dropped as duplicates

  bool any_left_out() const;
  /// Rows left out of the write (refused, or after a partition's cut) give their identity
  /// up: the first pending duplicate still in claims it (a corrected resend of a refused
  /// record), in offset order within the batch. Only written rows' identities stay.
  void give_up(const std::vector<bool>& excluded);
  /// Once the write committed: marks the rows that were not written as duplicates in
  /// `duplicate_rows` (sized to `rows` when one is found); returns how many of them were not
  /// counted as dropped before.
  uint64_t mark_duplicates(std::vector<bool>& duplicate_rows, size_t rows);
  void clear();
};

class DedupFilter {
 public:
  /// `index` must outlive the filter; `unix_seconds` stamps identities (TTL).
  DedupFilter(size_t sink_index, std::chrono::seconds ttl, DedupIndex& index, std::function<int64_t()> unix_seconds);

  /// How the record whose identity is `identity` stands. Duplicate: applied, drop it.
  /// Otherwise `stored` is the batch's own copy of the identity (empty for None).
  /// `in_flight`: what the write in flight of this sink claims, if one is in flight.
  /// `trust_store`: the durable state may be consulted for this record's offset.
  DedupClaim claim(std::string_view identity, bool trust_store, const BatchClaims* in_flight, std::string_view& stored);
  /// The batch gained a row carrying `identity` with `claim`.
  void note_row(std::string_view identity, DedupClaim claim) {
    batch_.by_row.push_back(identity);
    batch_.claims.push_back(claim);
  }
  void note_dropped() { ++batch_.dropped; }
  /// The batch is handed to a write, which takes its claims (and gives back its buffers).
  void hand_over(BatchClaims& write);
  /// The write in flight was taken in, applying `applied`: the batch's rows waiting on it
  /// are dropped, or claim the identity it did not apply. Returns how many were dropped.
  uint64_t judge_pending(const IdentitySet& applied);
  /// Records, after the write's transaction committed, what it applied.
  void record_applied(const IdentitySet& applied, std::vector<std::pair<TopicPartition, int64_t>> complete_up_to);

  /// Replays (already applied records re-read to rebuild the state): is a record of this
  /// Kafka timestamp still within the TTL, so its identity is worth learning?
  bool within_ttl(std::optional<int64_t> timestamp_ms) const;
  void learn(std::string_view identity) { replay_identities_.insert(identity); }
  /// Every record of `tp` below `complete_up_to` was re-read.
  void note_replayed(const TopicPartition& tp, int64_t complete_up_to);
  /// Records what the replays learnt, with their markers.
  void record_replayed();

  /// Forgets everything not recorded (after a failed write the records come again).
  void clear();

 private:
  void record(const DedupUpdate& update);

  size_t sink_index_;
  std::chrono::seconds ttl_;
  DedupIndex& index_;
  std::function<int64_t()> unix_seconds_;
  bool recording_failed_ = false;
  BatchClaims batch_;
  IdentitySet awaiting_;  // claimed by the write in flight, with rows of this batch waiting
  IdentitySet replay_identities_;
  std::vector<std::pair<TopicPartition, int64_t>> replay_progress_;
};

}  // namespace kps
