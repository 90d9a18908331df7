#pragma once
// Reduces a batch to one row per primary key before it reaches PostgreSQL:
// `INSERT … ON CONFLICT DO UPDATE` refuses to touch a row twice in one statement,
// and writing only the winner is cheaper anyway.

#include <cstdint>
#include <unordered_map>
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
/// Reuses its tables across batches. Not thread-safe.
class KeyReducer {
 public:
  /// `sink` must outlive the reducer and have a primary key.
  explicit KeyReducer(const SinkConfig& sink);

  /// One entry per distinct key of `batch`, in offset order of the records that won. The result
  /// is valid until the next call. Rows marked in `excluded` (by row index; PostgreSQL
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
  };

  bool incoming_wins(uint32_t incoming_row, uint32_t current_row) const;

  const SinkConfig& sink_;
  const TableBatch* batch_ = nullptr;  // the batch being reduced, for the key functors
  std::unordered_map<uint32_t, uint32_t, KeyHash, KeyEqual> slot_by_key_;
  std::vector<KeyState> states_;
  std::vector<ReducedRow> reduced_;
};

}  // namespace kps
