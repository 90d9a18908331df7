#pragma once
// Reads Debezium change events (contract: "Change data capture"): the envelope with or
// without the {"schema":…, "payload":…} wrapper, on keys and values, and turns each event
// into what the sink does with it: upsert the row image, delete by key, truncate, or
// nothing. Values are read by their Debezium/Connect semantic type when the schema is
// there, else by the target column's type. Pure: no Kafka, no libpq; simdjson inside.

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/decoder.h"
#include "connector/record.h"

namespace kps {

/// The value Debezium puts in place of an unchanged TOASTed column.
inline constexpr std::string_view kDebeziumUnavailableValue = "__debezium_unavailable_value";

/// What one change event asks of the table.
enum class ChangeKind {
  Upsert,    // c, r, u: the tuple holds the `after` image
  Delete,    // d: the tuple holds the key columns, every other column NULL
  Truncate,  // t: nothing appended; the pipeline applies or skips it per on_truncate
  Skip,      // m, or the tombstone that follows a delete: nothing appended
};

struct DecodedChange {
  ChangeKind kind = ChangeKind::Skip;
  char op = 0;  // 'c', 'r', 'u', 'd', 't', 'm'; 0 for a tombstone
  /// Upsert only: some column held the unavailable-value placeholder (see the tuple layout).
  bool has_unavailable = false;
};

/// A field of the row image that no column of the route takes.
struct UnknownField {
  std::string name;
  /// The column type its schema calls for (nullopt: no schema wrapper, or a type we
  /// cannot map), which schema_evolution: add_columns needs.
  std::optional<ColumnType> type;
};

/// The table a change event describes, for create_table (needs the schema wrapper).
struct TableShape {
  std::vector<ColumnConfig> columns;     // the `after` struct's fields in schema order; nullable per the schema
  std::vector<std::string> primary_key;  // the key schema's fields, in order
  std::vector<std::string> left_out;     // why each field no column type maps was left out
};

class DebeziumDecoder {
 public:
  /// `route` must outlive the decoder: its `columns` are the table's columns (name, type),
  /// `primary_key_columns` index the key columns, `timestamp_unit` reads integer timestamps
  /// without a schema.
  explicit DebeziumDecoder(const SinkConfig& route);
  ~DebeziumDecoder();
  DebeziumDecoder(const DebeziumDecoder&) = delete;
  DebeziumDecoder& operator=(const DebeziumDecoder&) = delete;

  /// Tuple layout, for Upsert and Delete: one field per route column in `route.columns`
  /// order, then one trailing text field, the unavailable mask: NULL when no column holds
  /// the placeholder, else one '0'/'1' character per column ('1': keep the stored value).
  /// On error, or for Truncate and Skip, nothing is appended.
  /// Fields of the row image with no column are listed in `unknown` (when given), in image
  /// order; they are not an error.
  /// Errors (each a bad record; `column` names the field when one is at fault): a value that
  /// is not an envelope, an unknown op, a missing `after` for c/r/u, a delete whose key
  /// cannot be read from the key or `before`, a null key on c/r/u (a keyless table cannot
  /// be upserted), decimal bytes without a schema (the reason says to send the schema or
  /// use decimal.handling.mode=string), any value that cannot be read exactly.
  std::variant<DecodedChange, DecodeError> decode(const RecordView& record, CopyBuffer& out,
                                                  std::vector<UnknownField>* unknown = nullptr);

  /// The names of the record key's fields (wrapped or not), for checking them against the
  /// table's primary key; nullopt for a null key or one that is not a JSON object.
  static std::optional<std::vector<std::string>> key_fields(const RecordView& record);

  /// The table this event's schema describes; nullopt, with `why_not` set, when the
  /// record has no schema wrapper (or it is not a row event).
  /// A field whose schema type maps to no column type is left out (and listed in
  /// `left_out`) unless it is a key field.
  static std::optional<TableShape> table_shape(const RecordView& record, std::string* why_not);

  /// Whether the record is a row change (c, r, u, d), whose schema can describe the table:
  /// false for a tombstone, a truncate, a message, anything that is not a change event.
  static bool carries_row(const RecordView& record);

 private:
  struct State;
  const SinkConfig& route_;
  std::unique_ptr<State> state_;
};

}  // namespace kps
