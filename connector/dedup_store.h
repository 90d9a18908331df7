#pragma once
// RocksDB adapter for the dedup state: the identities of records already applied to
// PostgreSQL, each with the time it was applied, so a record whose identity was applied
// within its sink's TTL can be dropped before it reaches the database.
//
// PostgreSQL stays the source of truth. The caller records a batch's identities only after
// the transaction that applied them has committed, together with, per partition, the offset
// below which the state is complete; after a crash between that COMMIT and record(), the
// caller compares those markers with PostgreSQL's offsets and re-reads the gap from Kafka.
// Losing the state therefore costs speed or dedup coverage, never correctness, which is
// why open() replaces a corrupt or foreign directory (with a warning) instead of failing.
//
// dedup_store.cpp is the only file that includes RocksDB.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connector/dedup_index.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// One per entry of Config::sinks, in the same order, so that the pipeline's sink indexes
/// are the store's too; a sink without dedup gets a disabled spec.
struct DedupSinkSpec {
  /// A stable id of the sink, e.g. the quoted table name. Each sink's identities live in
  /// their own column family ("sink:" + name), so identities of two sinks never collide.
  /// Must be non-empty, unique among enabled sinks, and free of '\0'.
  std::string name;
  /// How long an identity stays known after the batch that applied it committed.
  std::chrono::seconds ttl{0};
  /// false: this sink has no dedup; it gets no column family and its name is not used.
  bool enabled = true;
};

struct DedupOpenReport {
  /// The state starts empty: the directory held no state, or it was wiped.
  bool created_new = false;
  /// The old directory was corrupt, unreadable or foreign and was replaced (moved aside
  /// when it could be, deleted otherwise).
  bool wiped = false;
  /// What happened and to which path, for the caller to log once. Empty when all is well.
  std::string warning;
};

struct DedupStats {
  uint64_t approximate_keys = 0;   // identities held, all sinks; includes expired ones not yet compacted
  uint64_t approximate_bytes = 0;  // on disk (live SST files) plus memtables, all sinks
  uint64_t hits = 0;               // contains() answered true: a duplicate
  uint64_t misses = 0;             // contains() answered false
  uint64_t read_errors = 0;        // lookups RocksDB failed; each answered false (costs coverage, not data)
};

/// Thread-safe: RocksDB serialises writes, and every other member is immutable after open()
/// apart from atomic counters, so the metrics thread may call stats() while the pipeline
/// calls contains() and record().
class DedupStore final : public DedupIndex {
 public:
  /// Opens or creates the state in `dir` (parent directories included).
  ///
  /// `fingerprint` identifies the deployment (group id, offsets table, the sinks' dedup
  /// config): a state written with another fingerprint is foreign and is wiped. A directory
  /// RocksDB cannot open (corruption, wrong format, not a kafka-pg-sink state) is moved aside
  /// to `dir + ".corrupt-<unix time>"`, or deleted if that fails, and recreated. Both set
  /// `report->wiped` and a warning. Sinks added since the last run get empty column
  /// families; sinks no longer listed are dropped with their markers.
  ///
  /// `now_seconds` gives wall-clock Unix seconds; it decides expiry in contains() and is
  /// also called from RocksDB's compaction threads, so it must be thread-safe.
  ///
  /// Errors (all Fatal): the directory cannot be created (the message names the path),
  /// another process holds the state's lock, an invalid sink spec, or the state cannot be
  /// opened even after being replaced.
  static Result<std::unique_ptr<DedupStore>> open(const std::string& dir, const std::string& fingerprint,
                                                  std::vector<DedupSinkSpec> sinks,
                                                  std::function<int64_t()> now_seconds, DedupOpenReport* report);
  ~DedupStore() override;
  DedupStore(const DedupStore&) = delete;
  DedupStore& operator=(const DedupStore&) = delete;

  /// Was `identity` applied to `sink` within the sink's TTL? An expired entry that
  /// compaction has not removed yet counts as absent. A failed lookup answers false (the
  /// record is written; the database absorbs the rare duplicate) and counts a read error.
  /// Counts hits and misses. Does not allocate. A disabled sink contains nothing.
  bool contains(size_t sink, std::string_view identity) override;

  /// Writes the update in one atomic, WAL-logged batch. An error is Transient (the code
  /// names RocksDB's status, e.g. "IOError"): the state merely lags PostgreSQL until a
  /// later record() or the start-up rebuild catches it up. An update for a sink out of
  /// range or disabled is a Fatal error and writes nothing.
  Status record(const DedupUpdate& update) override;

  /// The offset below which `sink`'s identities from `tp` are all recorded; nullopt if
  /// never recorded (or unreadable), in which case the caller must not trust the state
  /// for that partition.
  std::optional<int64_t> complete_up_to(size_t sink, const TopicPartition& tp) const override;

  DedupStats stats() const;

  /// Compacts every enabled sink now, dropping expired identities and freeing their space.
  /// RocksDB also does this on its own as data is written and files age past the TTL.
  Status compact();

 private:
  struct Impl;  // RocksDB's handles and options: dedup_store.cpp is the only file that includes RocksDB
  explicit DedupStore(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

/// RocksDB's version, for --version.
std::string rocksdb_version();

}  // namespace kps
