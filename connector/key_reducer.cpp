#include "connector/key_reducer.h"

#include <algorithm>
#include <functional>
#include <string_view>

namespace kps {
namespace {

constexpr uint32_t kNoRow = UINT32_MAX;

/// Appends one field in COPY binary framing: its length, then its bytes (NULL: length -1).
void append_field(std::string& out, std::optional<std::string_view> value) {
  const uint32_t length = value ? static_cast<uint32_t>(value->size()) : UINT32_MAX;
  const uint32_t length_be = __builtin_bswap32(length);
  out.append(reinterpret_cast<const char*>(&length_be), 4);
  if (value) out.append(*value);
}

}  // namespace

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
  merged_tuples_.clear();
  merged_spans_.clear();
  const bool debezium = sink_.format == RecordFormat::Debezium;
  if (debezium) previous_upsert_.assign(batch.rows.size(), kNoRow);
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
      state.last_upsert.reset();
      continue;
    }
    if (debezium) {
      previous_upsert_[row_index] = state.last_upsert.value_or(kNoRow);
      state.last_upsert = row_index;
    }
    if (!state.winning_upsert || incoming_wins(row_index, *state.winning_upsert)) {
      state.winning_upsert = row_index;
    }
  }
  reduced_.reserve(states_.size());
  for (const KeyState& state : states_) {
    if (state.winning_upsert) {
      reduced_.push_back({*state.winning_upsert, state.deleted ? RowOp::DeleteThenUpsert : RowOp::Upsert});
      if (!debezium) continue;
      // Spans, not views, while merged_tuples_ may still grow; the views are set below.
      if (const auto merged = merge_unavailable(state)) merged_spans_.push_back({reduced_.size() - 1, *merged});
    } else {
      reduced_.push_back({state.last_delete, RowOp::Delete});
    }
  }
  for (const auto& [reduced_index, span] : merged_spans_) {
    reduced_[reduced_index].merged_tuple = std::string_view(merged_tuples_).substr(span.first, span.second);
  }
  // In offset order of the winning records: should PostgreSQL still find two of them
  // one row (SQLSTATE 21000: a jsonb key in two spellings), the writer applies the batch
  // in parts, in this order, so the later record still wins.
  std::sort(reduced_.begin(), reduced_.end(),
            [](const ReducedRow& a, const ReducedRow& b) { return a.row_index < b.row_index; });
  batch_ = nullptr;
  return reduced_;
}

std::optional<std::pair<size_t, size_t>> KeyReducer::merge_unavailable(const KeyState& state) {
  const uint32_t winner = *state.winning_upsert;
  const int column_count = static_cast<int>(sink_.columns.size());
  const std::string_view tuple = batch_->tuple(batch_->rows[winner]);
  const std::optional<std::string_view> mask = tuple_field(tuple, column_count);
  if (!mask || mask->find('1') == std::string_view::npos) return std::nullopt;

  const size_t begin = merged_tuples_.size();
  const uint16_t field_count_be = __builtin_bswap16(static_cast<uint16_t>(column_count + 1));
  merged_tuples_.append(reinterpret_cast<const char*>(&field_count_be), 2);
  std::string merged_mask(*mask);
  bool taken = false;
  for (int column = 0; column < column_count; ++column) {
    std::optional<std::string_view> value = tuple_field(tuple, column);
    if (static_cast<size_t>(column) < mask->size() && (*mask)[column] == '1') {
      // The latest earlier upsert of the key (after its last delete) that knew the value.
      // With upsert_when_newer the winner need not be the last row: only earlier ones count.
      for (uint32_t row = *state.last_upsert; row != kNoRow; row = previous_upsert_[row]) {
        if (row >= winner) continue;
        const std::string_view earlier = batch_->tuple(batch_->rows[row]);
        const std::optional<std::string_view> earlier_mask = tuple_field(earlier, column_count);
        if (earlier_mask && static_cast<size_t>(column) < earlier_mask->size() && (*earlier_mask)[column] == '1') {
          continue;
        }
        value = tuple_field(earlier, column);
        merged_mask[column] = '0';
        taken = true;
        break;
      }
    }
    append_field(merged_tuples_, value);
  }
  if (!taken) {
    merged_tuples_.resize(begin);
    return std::nullopt;
  }
  // A mask with nothing left to keep is no mask: the row takes the plain upsert.
  if (merged_mask.find('1') == std::string::npos) {
    append_field(merged_tuples_, std::nullopt);
  } else {
    append_field(merged_tuples_, merged_mask);
  }
  return std::pair{begin, merged_tuples_.size() - begin};
}

}  // namespace kps
