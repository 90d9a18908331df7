#include "connector/key_reducer.h"

#include <algorithm>
#include <functional>
#include <string_view>

namespace kps {

KeyReducer::KeyReducer(const SinkConfig& sink)
    : sink_(sink), slot_by_key_(64, KeyHash{this}, KeyEqual{this}) {}

size_t KeyReducer::KeyHash::operator()(uint32_t row_index) const {
  const TableBatch& batch = *reducer->batch_;
  const std::string_view tuple = batch.tuple(batch.rows[row_index]);
  size_t hash = 0;
  for (const size_t column : reducer->sink_.primary_key_columns) {
    const auto field = tuple_field(tuple, static_cast<int>(column));
    const size_t field_hash =
        field ? hash_binary_value(reducer->sink_.columns[column].type, *field) : 0x9e3779b9u;
    hash = hash * 1000003u ^ field_hash;
  }
  return hash;
}

bool KeyReducer::KeyEqual::operator()(uint32_t a, uint32_t b) const {
  const TableBatch& batch = *reducer->batch_;
  const std::string_view tuple_a = batch.tuple(batch.rows[a]);
  const std::string_view tuple_b = batch.tuple(batch.rows[b]);
  for (const size_t column : reducer->sink_.primary_key_columns) {
    const auto field_a = tuple_field(tuple_a, static_cast<int>(column));
    const auto field_b = tuple_field(tuple_b, static_cast<int>(column));
    // Primary-key columns are non-nullable (validated); NULL only equals NULL here.
    if (!field_a || !field_b) {
      if (field_a.has_value() != field_b.has_value()) return false;
      continue;
    }
    // By value, as PostgreSQL matches the conflict target: 1 and 1.0 are one key.
    if (!binary_values_equal(reducer->sink_.columns[column].type, *field_a, *field_b)) return false;
  }
  return true;
}

bool KeyReducer::incoming_wins(uint32_t incoming_row, uint32_t current_row) const {
  // DO NOTHING keeps the stored row across batches, so within one the first record stays.
  if (sink_.mode == WriteMode::InsertIgnore) return false;
  if (!sink_.newer_column) return true;  // last offset wins
  const int column = static_cast<int>(*sink_.newer_column);
  const auto incoming = tuple_field(batch_->tuple(batch_->rows[incoming_row]), column);
  const auto current = tuple_field(batch_->tuple(batch_->rows[current_row]), column);
  // The newer column is non-nullable (validated), so both are present for upserts.
  if (!incoming || !current) return true;
  const ColumnType type = sink_.columns[*sink_.newer_column].type;
  // On a tie the later record wins, as the writer's `EXCLUDED.x >= t.x` across batches.
  return compare_binary_values(type, *incoming, *current) >= 0;
}

const std::vector<ReducedRow>& KeyReducer::reduce(const TableBatch& batch, const std::vector<bool>* excluded) {
  batch_ = &batch;
  slot_by_key_.clear();
  states_.clear();
  reduced_.clear();
  for (uint32_t row_index = 0; row_index < batch.rows.size(); ++row_index) {
    if (excluded != nullptr && (*excluded)[row_index]) continue;
    const auto [entry, inserted] =
        slot_by_key_.try_emplace(row_index, static_cast<uint32_t>(states_.size()));
    if (inserted) states_.emplace_back();
    KeyState& state = states_[entry->second];
    if (batch.rows[row_index].is_delete) {
      state.winning_upsert.reset();
      state.deleted = true;
      state.last_delete = row_index;
    } else if (!state.winning_upsert || incoming_wins(row_index, *state.winning_upsert)) {
      state.winning_upsert = row_index;
    }
  }
  reduced_.reserve(states_.size());
  for (const KeyState& state : states_) {
    if (state.winning_upsert) {
      reduced_.push_back({*state.winning_upsert, state.deleted ? RowOp::DeleteThenUpsert : RowOp::Upsert});
    } else {
      reduced_.push_back({state.last_delete, RowOp::Delete});
    }
  }
  // In offset order of the winning records: should PostgreSQL still find two of them
  // one row (SQLSTATE 21000: a jsonb key in two spellings), the writer applies the batch
  // in parts, in this order, so the later record still wins.
  std::sort(reduced_.begin(), reduced_.end(),
            [](const ReducedRow& a, const ReducedRow& b) { return a.row_index < b.row_index; });
  batch_ = nullptr;
  return reduced_;
}

}  // namespace kps
