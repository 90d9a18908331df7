#pragma once
// Every offset fact of every owned partition, in one place: what PostgreSQL holds, where
// consuming goes on, what the dedup state may be trusted for, which record a resume must
// find again, what is durable but not yet committed to Kafka, and which writer lane the
// partition is pinned to. Pure bookkeeping, no I/O: the pipeline asks it how to treat each
// record that arrives, and the connector asks it what to commit.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connector/record.h"
#include "connector/table_writer.h"

namespace kps {

/// How a partition starts once it is owned (see PartitionLedger::own).
struct PartitionStart {
  /// The next offset PostgreSQL holds; nullopt when it holds none.
  std::optional<int64_t> stored_next_offset;
  /// Where fetching starts when below the stored offset (a dedup re-read); else the stored offset.
  std::optional<int64_t> first_offset_to_fetch;
  /// Below this offset the dedup state claims identities PostgreSQL does not hold.
  std::optional<int64_t> dedup_untrusted_below;
  /// The record the stored offset was taken after: the first fetch must find it unchanged.
  std::optional<LastAppliedRecord> last_applied;
};

/// What to do with a record that arrived, decided by PartitionLedger::classify.
enum class Arrival {
  NotOwned,             // fetched before a revoke completed: another member owns it now
  Redelivered,          // below where consuming goes on: already handled
  LogReplaced,          // the stored offset's record has another timestamp: the topic was recreated
  CheckedOnly,          // fetched only to compare with last_applied, and it matched: skip it
  AlreadyApplied,       // below the stored offset, re-read on purpose (dedup rebuild)
  New,                  // to be written
};

struct PartitionFacts {
  bool owned = false;
  uint32_t lane = 0;  // the writer lane the partition is pinned to while owned
  std::optional<int64_t> stored_next_offset;
  std::optional<int64_t> next_offset_to_consume;
  std::optional<int64_t> dedup_untrusted_below;
  std::optional<LastAppliedRecord> last_applied;  // to compare with the first record fetched
  bool fetching_only_for_check = false;           // last_applied is fetched for the check alone
  bool commit_pending = false;                    // durable in PostgreSQL, not yet taken for Kafka
};

/// Not thread-safe: the polling thread alone reads and writes it.
class PartitionLedger {
 public:
  /// The partition is owned from now on, pinned to `lane`, starting as `start` says.
  void own(const TopicPartition& tp, const PartitionStart& start, uint32_t lane = 0);
  /// Forgets the partition (revoked); also where it was first fetched. Its stored offset is
  /// kept for take_released(): the revoke commits it to Kafka where Kafka's lags (the last
  /// batch written before the revoke, or an asynchronous commit that failed).
  void forget(const TopicPartition& tp);
  /// Forgets every partition pinned to `lane` (its writes failed: they are re-read from
  /// PostgreSQL), and what its revoked partitions released. Where partitions were first fetched is kept: a partition with no stored
  /// offset is fetched again from there.
  void forget_lane(uint32_t lane);

  /// The facts of an owned partition, or null. One hash lookup: the per-record path.
  PartitionFacts* find(std::string_view topic, int32_t partition);
  const PartitionFacts* find(const TopicPartition& tp) const;

  /// How to treat `record` of an owned partition. On LogReplaced, `expected` (when given)
  /// receives the record the stored offset was taken after.
  static Arrival classify(PartitionFacts& facts, const RecordView& record, LastAppliedRecord* expected = nullptr);
  /// The record was handled (written, dead-lettered, dropped as a duplicate, or learnt).
  static void consumed(PartitionFacts& facts, int64_t offset) { facts.next_offset_to_consume = offset + 1; }

  /// The first record fetched from the partition since it was owned.
  void note_fetched(std::string_view topic, int32_t partition, int64_t offset);
  std::optional<int64_t> first_offset_fetched(const TopicPartition& tp) const;

  /// PostgreSQL committed `next_offset` for the partition.
  void note_durable(const TopicPartition& tp, int64_t next_offset);
  /// Next offsets made durable since the last call, of the partitions pinned to `lane`
  /// (every lane's when nullopt): what to commit to Kafka.
  std::vector<std::pair<TopicPartition, int64_t>> take_durable(std::optional<uint32_t> lane = std::nullopt);
  /// The stored offsets of partitions forgotten since the last call: for the revoke that
  /// forgot them to commit, and for no one later (the partition may have another owner by then).
  std::vector<std::pair<TopicPartition, int64_t>> take_released();
  std::optional<int64_t> stored_next_offset(const TopicPartition& tp) const;
  /// The lane an owned partition is pinned to.
  std::optional<uint32_t> lane_of(const TopicPartition& tp) const;
  /// Owned partitions pinned to each lane, for choosing the least loaded one.
  std::vector<size_t> partitions_per_lane(size_t lanes) const;

 private:
  struct TopicEntry {
    std::vector<PartitionFacts> partitions;             // by partition number
    std::vector<std::optional<int64_t>> first_fetched;  // by partition number; survives forget_lane()
  };
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };
  TopicEntry& entry(std::string_view topic);
  const TopicEntry* find_entry(std::string_view topic) const;

  std::unordered_map<std::string, TopicEntry, TransparentHash, std::equal_to<>> topics_;
  struct Released {
    TopicPartition topic_partition;
    int64_t next_offset = 0;
    uint32_t lane = 0;
  };
  std::vector<Released> released_durable_;  // forgotten with a stored offset
};

}  // namespace kps
