#pragma once
// Reduces a batch to one row per primary key before it reaches PostgreSQL:
// `INSERT … ON CONFLICT DO UPDATE` refuses to touch a row twice in one statement,
// and writing only the winner is cheaper anyway.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connector/batcher.h"
#include "connector/config.h"

namespace kps {

/// Per key, records apply in offset order: a tombstone deletes what came before it;
/// among the upserts after the last tombstone the last one wins, or with
/// upsert_when_newer the greatest value wins (ties: the later record, as across
/// batches), or in insert_ignore mode the first one (as DO NOTHING keeps the stored
/// row across batches). Keys are compared by value as PostgreSQL compares them
/// (binary_values_equal): {"id":1} and {"id":1.0} into a numeric key are one key, so a
/// tombstone keyed 1 deletes what an upsert keyed 1.0 wrote.
/// On a Debezium route, a surviving row whose unavailable mask marks a column (an unchanged
/// TOASTed value) takes that column's value from the latest earlier upsert of its key after
/// the key's last delete that carries a real one, and its mask char is cleared: a create and a
/// later update in one batch keep the created value. Such a row's ReducedRow::merged_tuple
/// holds the completed tuple.
/// Reuses its tables across batches. Not thread-safe.
class KeyReducer {
 public:
  /// `sink` must outlive the reducer and have a primary key.
  explicit KeyReducer(const SinkConfig& sink);

  /// One entry per distinct key of `batch`, in offset order of the records that won. The result,
  /// merged tuples included, is valid until the next call. Rows marked in `excluded` (by row index; PostgreSQL
  /// refused them) take no part: another record of their key may win instead.
  const std::vector<ReducedRow>& reduce(const TableBatch& batch, const std::vector<bool>* excluded = nullptr);

 private:
  struct KeyHash {
    const KeyReducer* reducer;
    size_t operator()(uint32_t row_index) const;
  };
  struct KeyEqual {
    const KeyReducer* reducer;
    bool operator()(uint32_t a, uint32_t b) const;
  };
  struct KeyState {
    std::optional<uint32_t> winning_upsert;
    bool deleted = false;
    uint32_t last_delete = 0;
    std::optional<uint32_t> last_upsert;  // since the last delete; Debezium routes only
  };

  bool incoming_wins(uint32_t incoming_row, uint32_t current_row) const;
  /// Debezium: completes the winner's unavailable columns from the key's earlier upserts into
  /// merged_tuples_; returns the tuple's (begin, size) there, or nullopt when nothing changed.
  std::optional<std::pair<size_t, size_t>> merge_unavailable(const KeyState& state);

  const SinkConfig& sink_;
  const TableBatch* batch_ = nullptr;  // the batch being reduced, for the key functors
  std::unordered_map<uint32_t, uint32_t, KeyHash, KeyEqual> slot_by_key_;
  std::vector<KeyState> states_;
  std::vector<ReducedRow> reduced_;
  std::vector<uint32_t> previous_upsert_;  // by row: the key's upsert before it (kNoRow: none)
  std::string merged_tuples_;
  /// (index into reduced_ before sorting, (begin, size) in merged_tuples_)
  std::vector<std::pair<size_t, std::pair<size_t, size_t>>> merged_spans_;
};

}  // namespace kps
