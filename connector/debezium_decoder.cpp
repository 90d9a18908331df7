#include "connector/debezium_decoder.h"

#include <algorithm>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connector/json_tree.h"
#include "connector/json_value_converter.h"
#include "connector/value_text.h"
#include "connector/wanted_paths.h"

namespace kps {
namespace {

using namespace codec;

/// The placeholder as a bytes field carries it: base64 of its UTF-8.
constexpr std::string_view kUnavailableValueBase64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// The Debezium and Kafka Connect semantic types (a field schema's "name") this reader knows.
enum class Semantic {
  None,  // no name, or one we do not know: read by the literal type
  Date, TimeMillis, TimeMicros, TimeNanos, TimestampMillis, TimestampMicros, TimestampNanos,
  ZonedTimestamp, ZonedTime, Year, Decimal, VariableScaleDecimal, Json, Uuid, Enum, EnumSet, Xml, Bits,
};

Semantic semantic_of(std::string_view name) {
  struct Entry {
    std::string_view name;
    Semantic semantic;
  };
  static constexpr Entry kNames[] = {
      {"io.debezium.time.Date", Semantic::Date},
      {"org.apache.kafka.connect.data.Date", Semantic::Date},
      {"io.debezium.time.Time", Semantic::TimeMillis},
      {"org.apache.kafka.connect.data.Time", Semantic::TimeMillis},
      {"io.debezium.time.MicroTime", Semantic::TimeMicros},
      {"io.debezium.time.NanoTime", Semantic::TimeNanos},
      {"io.debezium.time.Timestamp", Semantic::TimestampMillis},
      {"org.apache.kafka.connect.data.Timestamp", Semantic::TimestampMillis},
      {"io.debezium.time.MicroTimestamp", Semantic::TimestampMicros},
      {"io.debezium.time.NanoTimestamp", Semantic::TimestampNanos},
      {"io.debezium.time.ZonedTimestamp", Semantic::ZonedTimestamp},
      {"io.debezium.time.ZonedTime", Semantic::ZonedTime},
      {"io.debezium.time.Year", Semantic::Year},
      {"org.apache.kafka.connect.data.Decimal", Semantic::Decimal},
      {"io.debezium.data.VariableScaleDecimal", Semantic::VariableScaleDecimal},
      {"io.debezium.data.Json", Semantic::Json},
      {"io.debezium.data.Uuid", Semantic::Uuid},
      {"io.debezium.data.Enum", Semantic::Enum},
      {"io.debezium.data.EnumSet", Semantic::EnumSet},
      {"io.debezium.data.Xml", Semantic::Xml},
      {"io.debezium.data.Bits", Semantic::Bits},
  };
  for (const Entry& entry : kNames) {
    if (entry.name == name) return entry.semantic;
  }
  return Semantic::None;
}

/// A field's schema: its Connect literal type ("int32", "bytes", "struct"; either case)
/// and semantic name, and the node holding "parameters".
struct FieldSchema {
  std::string_view type;
  std::string_view name;
  uint32_t node = kNoNode;
};

/// The column type a field's schema calls for (create_table, schema_evolution).
std::optional<ColumnType> column_type_for(const FieldSchema& schema) {
  switch (semantic_of(schema.name)) {
    case Semantic::Date: return ColumnType::Date;
    case Semantic::TimeMillis:
    case Semantic::TimeMicros:
    case Semantic::TimeNanos: return ColumnType::Time;
    case Semantic::TimestampMillis:
    case Semantic::TimestampMicros:
    case Semantic::TimestampNanos: return ColumnType::Timestamp;
    case Semantic::ZonedTimestamp: return ColumnType::TimestampTz;
    case Semantic::Year: return ColumnType::Integer;
    case Semantic::Decimal:
    case Semantic::VariableScaleDecimal: return ColumnType::Numeric;
    case Semantic::Json: return ColumnType::Jsonb;
    case Semantic::Uuid: return ColumnType::Uuid;
    case Semantic::ZonedTime:  // timetz is no column type here: its text keeps it exact
    case Semantic::Enum:
    case Semantic::EnumSet:
    case Semantic::Xml: return ColumnType::Text;
    case Semantic::Bits: return ColumnType::Bytea;
    case Semantic::None: break;
  }
  struct Literal {
    std::string_view type;
    ColumnType column;
  };
  static constexpr Literal kLiterals[] = {
      {"int8", ColumnType::SmallInt},  {"int16", ColumnType::SmallInt}, {"int32", ColumnType::Integer},
      {"int64", ColumnType::BigInt},   {"float32", ColumnType::Real},   {"float64", ColumnType::Double},
      {"float", ColumnType::Real},     {"double", ColumnType::Double},  {"boolean", ColumnType::Boolean},
      {"string", ColumnType::Text},    {"bytes", ColumnType::Bytea},    {"struct", ColumnType::Jsonb},
      {"array", ColumnType::Jsonb},    {"map", ColumnType::Jsonb},
  };
  for (const Literal& literal : kLiterals) {
    if (ascii_iequals(literal.type, schema.type)) return literal.column;
  }
  return std::nullopt;
}

/// The schema of field `name` in a struct schema's "fields": the JsonConverter form
/// ({"type":…, "name":…, "field": NAME}) or the form the PostgreSQL connector's
/// documentation shows for keys ({"name": NAME, "index":…, "schema": {"type":…}}).
std::optional<FieldSchema> field_schema(const JsonTree& tree, uint32_t struct_schema, std::string_view name) {
  const uint32_t fields = tree.member(struct_schema, "fields");
  if (!tree.is(fields, od::json_type::array)) return std::nullopt;
  for (uint32_t field = tree.node(fields).first_child; field != kNoNode; field = tree.node(field).next_sibling) {
    uint32_t described = kNoNode;
    if (tree.string_member(field, "field") == name) {
      described = field;
    } else if (tree.is(tree.member(field, "schema"), od::json_type::object) && tree.string_member(field, "name") == name) {
      described = tree.member(field, "schema");
    }
    if (described == kNoNode) continue;
    return FieldSchema{tree.string_member(described, "type").value_or(""),
                       tree.string_member(described, "name").value_or(""), described};
  }
  return std::nullopt;
}

/// The names of a struct schema's fields, in order.
std::vector<std::string> struct_field_names(const JsonTree& tree, uint32_t struct_schema) {
  std::vector<std::string> names;
  const uint32_t fields = tree.member(struct_schema, "fields");
  if (!tree.is(fields, od::json_type::array)) return names;
  for (uint32_t field = tree.node(fields).first_child; field != kNoNode; field = tree.node(field).next_sibling) {
    if (auto name = tree.string_member(field, "field")) {
      names.emplace_back(*name);
    } else if (auto legacy = tree.string_member(field, "name")) {
      names.emplace_back(*legacy);
    }
  }
  return names;
}

/// An event as read off the wire: the envelope with its schema when it was wrapped.
struct Envelope {
  uint32_t payload = kNoNode;         // the envelope object
  uint32_t schema = kNoNode;          // the Envelope struct schema, or kNoNode
};

/// {"schema":…, "payload":…} is the JsonConverter's wrapper; anything else is the
/// envelope itself. A Debezium envelope never has a member named "payload".
Envelope unwrap(const JsonTree& tree) {
  const uint32_t payload = tree.member(0, "payload");
  if (payload != kNoNode && tree.member(0, "schema") != kNoNode) {
    const uint32_t schema = tree.member(0, "schema");
    return Envelope{payload, tree.is(schema, od::json_type::object) ? schema : kNoNode};
  }
  return Envelope{0, kNoNode};
}

/// The struct schema of envelope field `name` ("before", "after").
uint32_t image_schema(const JsonTree& tree, const Envelope& envelope, std::string_view name) {
  if (envelope.schema == kNoNode) return kNoNode;
  const auto schema = field_schema(tree, envelope.schema, name);
  return schema ? schema->node : kNoNode;
}

/// Scratch space for decimal_text_of_unscaled, reused across records.
struct DecimalScratch {
  std::string bytes;            // the unscaled integer, then its magnitude
  std::vector<uint32_t> limbs;  // the magnitude in base 10^9, least significant first
  std::string digits;           // its decimal digits
  std::string text;             // the result
};

/// The decimal text of `scratch.bytes`, a big-endian two's complement integer, scaled by
/// 10^-scale, into `scratch.text`. Allocates nothing once the scratch has grown.
void decimal_text_of_unscaled(int32_t scale, DecimalScratch& scratch) {
  std::string& magnitude = scratch.bytes;
  const bool negative = !magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80) != 0;
  if (negative) {  // two's complement: invert and add one
    for (char& byte : magnitude) byte = static_cast<char>(~static_cast<uint8_t>(byte));
    for (size_t i = magnitude.size(); i-- > 0;) {
      const auto incremented = static_cast<uint8_t>(static_cast<uint8_t>(magnitude[i]) + 1);
      magnitude[i] = static_cast<char>(incremented);
      if (incremented != 0) break;
    }
  }
  constexpr uint32_t kLimbBase = 1000000000;
  scratch.limbs.assign(1, 0);
  for (const char byte : magnitude) {
    uint64_t carry = static_cast<uint8_t>(byte);
    for (uint32_t& limb : scratch.limbs) {
      const uint64_t value = uint64_t{limb} * 256 + carry;
      limb = static_cast<uint32_t>(value % kLimbBase);
      carry = value / kLimbBase;
    }
    if (carry != 0) scratch.limbs.push_back(static_cast<uint32_t>(carry));
  }
  std::string& digits = scratch.digits;
  digits.clear();
  char limb_text[16];
  for (size_t i = scratch.limbs.size(); i-- > 0;) {
    const auto [end, error] = std::to_chars(std::begin(limb_text), std::end(limb_text), scratch.limbs[i]);
    const auto length = static_cast<size_t>(end - limb_text);
    if (i + 1 != scratch.limbs.size()) digits.append(9 - length, '0');  // inner limbs keep their zeros
    digits.append(limb_text, length);
  }
  const bool zero = digits == "0";
  std::string& out = scratch.text;
  out.clear();
  if (negative && !zero) out += '-';
  if (scale <= 0) {
    out += digits;
    if (!zero) out.append(static_cast<size_t>(-int64_t{scale}), '0');
    return;
  }
  const auto fraction = static_cast<size_t>(scale);
  if (digits.size() <= fraction) digits.insert(0, fraction + 1 - digits.size(), '0');
  out.append(digits, 0, digits.size() - fraction);
  out += '.';
  out.append(digits, digits.size() - fraction, fraction);
}

bool is_integer_type(ColumnType type) {
  return type == ColumnType::SmallInt || type == ColumnType::Integer || type == ColumnType::BigInt;
}

}  // namespace

struct DebeziumDecoder::State {
  explicit State(const SinkConfig& route) : route_(route), converter_(route.timestamp_unit) {
    mask_.assign(route.columns.size(), '0');
    image_paths_.reserve(route.columns.size());
    for (const ColumnConfig& column : route.columns) {
      // A column reads the row image at its pointer (by-name columns: "/<name>"); any
      // other source is record metadata, read as the json decoder reads it.
      image_paths_.push_back(column.source.kind == ColumnSource::Kind::JsonPointer
                                 ? parse_json_pointer(column.source.argument)
                                 : std::vector<PointerToken>{});
    }
    is_primary_key_.assign(route.columns.size(), false);
    for (const size_t index : route.primary_key_columns) {
      if (index < is_primary_key_.size()) is_primary_key_[index] = true;
    }
  }

  std::variant<DecodedChange, DecodeError> decode(const RecordView& record, CopyBuffer& out,
                                                  std::vector<UnknownField>* unknown) {
    DecodedChange change;
    if (!record.value) return change;  // the tombstone that follows a delete: nothing to do
    if (Failure failure = value_.parse(*record.value)) return record_error(std::move(*failure));
    if (!value_.is(0, od::json_type::object)) {
      return DecodeError{"", std::string("value is not a Debezium change event (it is a JSON ") +
                                 json_type_name(value_.type(0)) + ")",
                         DecodeFailure::NotAnObject};
    }
    const Envelope envelope = unwrap(value_);
    if (value_.is(envelope.payload, od::json_type::null)) return change;  // a wrapped tombstone
    if (!value_.is(envelope.payload, od::json_type::object)) {
      return DecodeError{"payload", std::string("the wrapper's payload is not a change event envelope (it is a JSON ") +
                                        json_type_name(value_.type(envelope.payload)) + ")",
                         DecodeFailure::NotAnObject};
    }
    const uint32_t op_node = value_.member(envelope.payload, "op");
    if (op_node == kNoNode) {
      return DecodeError{"op", "missing: a Debezium change event envelope has an \"op\" field",
                         DecodeFailure::MissingValue};
    }
    if (!value_.is(op_node, od::json_type::string)) {
      return DecodeError{"op", std::string("expected a one-letter string, got ") +
                                   json_type_name(value_.type(op_node)),
                         DecodeFailure::WrongType};
    }
    const std::string_view op = value_.node(op_node).value.text;
    if (op.size() != 1 || std::string_view("crudtm").find(op[0]) == std::string_view::npos) {
      return DecodeError{"op", "unknown Debezium op " + quoted_excerpt(op) + " (expected c, r, u, d, t or m)",
                         DecodeFailure::InvalidValue};
    }
    change.op = op[0];
    switch (change.op) {
      case 't':
        change.kind = ChangeKind::Truncate;
        return change;
      case 'm':
        change.kind = ChangeKind::Skip;
        return change;
      case 'd':
        change.kind = ChangeKind::Delete;
        if (auto error = encode_delete(record, envelope, out)) return std::move(*error);
        return change;
      default:
        change.kind = ChangeKind::Upsert;
        if (auto error = encode_upsert(record, envelope, out, unknown, change.has_unavailable)) {
          return std::move(*error);
        }
        return change;
    }
  }

 private:
  /// The record key's row naming part: its payload when wrapped. kNoNode for a null key,
  /// a key that is not JSON, or one that is not an object.
  uint32_t parse_key(const RecordView& record, uint32_t& key_schema) {
    key_schema = kNoNode;
    if (!record.key || key_.parse(*record.key)) return kNoNode;
    if (!key_.is(0, od::json_type::object)) return kNoNode;
    const uint32_t payload = key_.member(0, "payload");
    if (payload != kNoNode && key_.member(0, "schema") != kNoNode) {
      const uint32_t schema = key_.member(0, "schema");
      if (key_.is(schema, od::json_type::object)) key_schema = schema;
      return key_.is(payload, od::json_type::object) ? payload : kNoNode;
    }
    return 0;
  }

  bool key_is_null(const RecordView& record) {
    if (!record.key) return true;
    if (key_.parse(*record.key)) return false;  // not JSON: some key all the same
    if (key_.is(0, od::json_type::null)) return true;
    const uint32_t payload = key_.member(0, "payload");
    return payload != kNoNode && key_.member(0, "schema") != kNoNode && key_.is(payload, od::json_type::null);
  }

  std::optional<DecodeError> encode_upsert(const RecordView& record, const Envelope& envelope, CopyBuffer& out,
                                           std::vector<UnknownField>* unknown, bool& has_unavailable) {
    if (key_is_null(record) || route_.primary_key_columns.empty()) {
      return DecodeError{"", "a keyless table cannot be upserted: the record key is null (Debezium sends no key "
                             "for a table without a primary key or unique index); give the table a primary key, or "
                             "set message.key.columns in the connector",
                         DecodeFailure::InvalidKey};
    }
    const uint32_t after = value_.member(envelope.payload, "after");
    if (after == kNoNode || value_.is(after, od::json_type::null)) {
      return DecodeError{"after", "missing or null: a create, read or update event (op c, r, u) carries the row image there",
                         DecodeFailure::MissingValue};
    }
    if (!value_.is(after, od::json_type::object)) {
      return DecodeError{"after", std::string("expected the row image as an object, got ") +
                                      json_type_name(value_.type(after)),
                         DecodeFailure::WrongType};
    }
    const uint32_t schema = image_schema(value_, envelope, "after");
    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(route_.columns.size() + 1));
    std::fill(mask_.begin(), mask_.end(), '0');
    has_unavailable = false;
    for (size_t index = 0; index < route_.columns.size(); ++index) {
      const ColumnConfig& column = route_.columns[index];
      Failure failure;
      if (column.source.kind != ColumnSource::Kind::JsonPointer) {
        if (Failure metadata = converter_.from_metadata(column, record, out)) {
          out.truncate(tuple_start);
          return DecodeError{column.name, std::move(metadata->reason), metadata->failure};
        }
        continue;
      }
      const std::vector<PointerToken>& path = image_paths_[index];
      const uint32_t field = find_in(value_, after, path);
      if (field == kNoNode || value_.is(field, od::json_type::null)) {
        if (is_primary_key_[index]) {
          failure = fail(DecodeFailure::InvalidKey, "the row image has no value for this primary-key column");
        } else {
          failure = append_absent(column, field == kNoNode ? Absence::Missing : Absence::Null, out);
        }
      } else {
        const std::optional<FieldSchema> field_type =
            schema == kNoNode || path.size() != 1 ? std::nullopt : field_schema(value_, schema, path[0].key);
        if (is_unavailable(value_.node(field), column, field_type)) {
          if (is_primary_key_[index]) {
            // No stored value can be kept for the very column that finds the row.
            out.truncate(tuple_start);
            return DecodeError{column.name, "a primary-key column holds Debezium's unavailable-value placeholder",
                               DecodeFailure::InvalidKey};
          }
          out.append_null();
          mask_[index] = '1';
          has_unavailable = true;
          continue;
        }
        failure = convert(value_, field, field_type, column, out);
      }
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), failure->failure};
      }
    }
    if (has_unavailable) {
      out.append_bytes(mask_);
    } else {
      out.append_null();
    }
    if (unknown != nullptr) list_unknown(after, schema, *unknown);
    return std::nullopt;
  }

  std::optional<DecodeError> encode_delete(const RecordView& record, const Envelope& envelope, CopyBuffer& out) {
    uint32_t key_schema = kNoNode;
    const uint32_t key = parse_key(record, key_schema);
    const uint32_t before = value_.member(envelope.payload, "before");
    const uint32_t before_schema = image_schema(value_, envelope, "before");
    // Without a key a delete would match every row of the table.
    if (route_.primary_key_columns.empty()) {
      return DecodeError{"", "a keyless table cannot take a delete: the route has no primary key to find the row "
                             "by; give the table a primary key, or set message.key.columns in the connector",
                         DecodeFailure::InvalidKey};
    }
    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(route_.columns.size() + 1));
    for (size_t index = 0; index < route_.columns.size(); ++index) {
      const ColumnConfig& column = route_.columns[index];
      if (!is_primary_key_[index]) {
        out.append_null();
        continue;
      }
      Failure failure;
      const std::vector<PointerToken>& path = image_paths_[index];
      // The key names its fields as the row image does.
      const std::string_view key_name = path.size() == 1 ? std::string_view(path[0].key) : column.name;
      const uint32_t in_key = key_.member(key, key_name);
      const uint32_t in_before = find_in(value_, before, path);
      if (column.source.kind != ColumnSource::Kind::JsonPointer) {
        failure = converter_.from_metadata(column, record, out);
      } else if (in_key != kNoNode && !key_.is(in_key, od::json_type::null)) {
        const auto schema = key_schema == kNoNode ? std::nullopt : field_schema(key_, key_schema, key_name);
        failure = with_source("record key", convert(key_, in_key, schema, column, out));
      } else if (in_before != kNoNode && !value_.is(in_before, od::json_type::null)) {
        const auto schema =
            before_schema == kNoNode || path.size() != 1 ? std::nullopt : field_schema(value_, before_schema, key_name);
        failure = with_source("before", convert(value_, in_before, schema, column, out));
      } else {
        failure = fail(DecodeFailure::InvalidKey,
                       "a delete must name its row, but neither the record key nor \"before\" holds this "
                       "primary-key column");
      }
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), DecodeFailure::InvalidKey};
      }
    }
    out.append_null();
    return std::nullopt;
  }

  void list_unknown(uint32_t after, uint32_t schema, std::vector<UnknownField>& unknown) const {
    for (uint32_t field = value_.node(after).first_child; field != kNoNode; field = value_.node(field).next_sibling) {
      const std::string_view name = value_.node(field).key;
      bool known = false;
      for (const std::vector<PointerToken>& path : image_paths_) {
        // Tokens are unescaped, as member names are: a field "a/b" is known only to a
        // column reading "/a~1b", never to one reading "/a/b" (member "a", then "b").
        if (!path.empty() && path[0].key == name) {
          known = true;
          break;
        }
      }
      if (known) continue;
      std::optional<ColumnType> type;
      if (schema != kNoNode) {
        if (const auto field_type = field_schema(value_, schema, name)) type = column_type_for(*field_type);
      }
      unknown.push_back(UnknownField{std::string(name), type});
    }
  }

  static bool is_unavailable(const JsonNode& node, const ColumnConfig& column, const std::optional<FieldSchema>& schema) {
    if (node.value.type != od::json_type::string) return false;
    if (node.value.text == kDebeziumUnavailableValue) return true;
    const bool bytes = column.type == ColumnType::Bytea || (schema && ascii_iequals(schema->type, "bytes"));
    return bytes && node.value.text == kUnavailableValueBase64;
  }

  /// One non-null value into its column: by its semantic type when the schema names one,
  /// else by the column's type.
  Failure convert(const JsonTree& tree, uint32_t field, const std::optional<FieldSchema>& schema,
                  const ColumnConfig& column, CopyBuffer& out) {
    FoundValue value = tree.node(field).value;
    const Semantic semantic = schema ? semantic_of(schema->name) : Semantic::None;
    const ColumnType type = column.type;
    const auto cannot_store = [&](const char* what) {
      return fail(DecodeFailure::WrongType, std::string(schema->name) + " (" + what + ") cannot be stored in a " +
                                                type_name(type) + " column");
    };
    const auto integer_of = [&](int64_t& number) -> Failure {
      if (value.type != od::json_type::number || parse_int64(trim_json_whitespace(value.raw), number) != IntegerParse::Ok) {
        return fail(DecodeFailure::WrongType, std::string(schema->name) + " must be an integer, got " +
                                                  (value.type == od::json_type::number
                                                       ? number_excerpt(trim_json_whitespace(value.raw))
                                                       : std::string(json_type_name(value.type))));
      }
      return std::nullopt;
    };
    switch (semantic) {
      case Semantic::Date: {
        if (is_integer_type(type) || type == ColumnType::Numeric || type == ColumnType::Text) break;
        int64_t days = 0;
        if (Failure failure = integer_of(days)) return failure;
        if (type == ColumnType::Date) return ValueConverter::append_epoch_days(days, out);
        if (type == ColumnType::Timestamp || type == ColumnType::TimestampTz) {
          constexpr int64_t kMillisPerDay = 86400000;
          if (days > INT64_MAX / kMillisPerDay || days < INT64_MIN / kMillisPerDay) {
            return fail(DecodeFailure::OutOfRange, std::to_string(days) + " epoch days is out of range");
          }
          return converter_.append_epoch(days * kMillisPerDay, TimestampUnit::Millis, out);
        }
        return cannot_store("epoch days");
      }
      case Semantic::TimeMillis:
      case Semantic::TimeMicros:
      case Semantic::TimeNanos: {
        if (type != ColumnType::Time) {
          if (is_integer_type(type) || type == ColumnType::Numeric || type == ColumnType::Text) break;
          return cannot_store("time of day");
        }
        int64_t count = 0;
        if (Failure failure = integer_of(count)) return failure;
        int64_t micros = count;
        if (semantic == Semantic::TimeMillis) {
          if (__builtin_mul_overflow(count, int64_t{1000}, &micros)) micros = -1;
        } else if (semantic == Semantic::TimeNanos) {
          if (count % 1000 != 0) {
            return fail(DecodeFailure::InvalidValue,
                        std::to_string(count) + " nanoseconds of the day has a fraction of a microsecond, which "
                                                "PostgreSQL's time cannot hold");
          }
          micros = count / 1000;
        }
        return ValueConverter::append_micros_of_day(micros, std::to_string(count) + " (" + std::string(schema->name) + ")",
                                                    out);
      }
      case Semantic::TimestampMillis:
      case Semantic::TimestampMicros:
      case Semantic::TimestampNanos: {
        if (type != ColumnType::Timestamp && type != ColumnType::TimestampTz) {
          if (is_integer_type(type) || type == ColumnType::Numeric || type == ColumnType::Text) break;
          return cannot_store("epoch time");
        }
        int64_t count = 0;
        if (Failure failure = integer_of(count)) return failure;
        const TimestampUnit unit = semantic == Semantic::TimestampMillis   ? TimestampUnit::Millis
                                   : semantic == Semantic::TimestampMicros ? TimestampUnit::Micros
                                                                           : TimestampUnit::Nanos;
        return converter_.append_epoch(count, unit, out);
      }
      case Semantic::ZonedTimestamp: {
        if (value.type != od::json_type::string || type != ColumnType::Timestamp) break;
        // Debezium writes it in UTC; a column without time zone gets that UTC wall clock.
        TimestampText timestamp;
        if (const TextProblem problem = parse_timestamp(value.text, timestamp)) {
          return fail(problem, "invalid " + std::string(schema->name) + " " + quoted_excerpt(value.text));
        }
        out.append_timestamp(timestamp.local_micros - int64_t{timestamp.offset_seconds.value_or(0)} * 1000000);
        return std::nullopt;
      }
      case Semantic::ZonedTime: {
        if (value.type != od::json_type::string || type != ColumnType::Time) break;
        std::string_view text = value.text;
        if (text.empty() || (text.back() != 'Z' && text.back() != 'z')) {
          return fail(DecodeFailure::InvalidValue, "invalid " + std::string(schema->name) + " " + quoted_excerpt(text) +
                                                       ": a time column takes it only in UTC (ending in Z)");
        }
        text.remove_suffix(1);
        return ValueConverter::time_from_text(text, out);
      }
      case Semantic::Decimal:
      case Semantic::VariableScaleDecimal:
        return decimal(tree, field, schema, semantic, column, out);
      case Semantic::Json:
        break;  // a string in a json or jsonb column is the JSON text it holds, below
      case Semantic::Year:
      case Semantic::Uuid:
      case Semantic::Enum:
      case Semantic::EnumSet:
      case Semantic::Xml:
      case Semantic::Bits:
      case Semantic::None:
        break;
    }
    return by_column_type(tree, field, column, schema.has_value(), out);
  }

  /// A value whose schema says nothing more than its literal type, or that has no schema.
  Failure by_column_type(const JsonTree& tree, uint32_t field, const ColumnConfig& column, bool has_schema,
                         CopyBuffer& out) {
    FoundValue value = tree.node(field).value;
    const ColumnType type = column.type;
    switch (type) {
      case ColumnType::Date:
        if (value.type == od::json_type::number) {
          int64_t days = 0;
          const std::string_view token = trim_json_whitespace(value.raw);
          if (parse_int64(token, days) != IntegerParse::Ok) {
            return fail(DecodeFailure::InvalidValue, number_excerpt(token) + " is not an integer number of epoch days");
          }
          return ValueConverter::append_epoch_days(days, out);
        }
        break;
      case ColumnType::Json:
      case ColumnType::Jsonb:
        if (value.type == od::json_type::string) return converter_.from_text_form(type, value.text, out);
        break;
      case ColumnType::Numeric:
        if (value.type == od::json_type::object && !has_schema) {
          return decimal(tree, field, std::nullopt, Semantic::VariableScaleDecimal, column, out);
        }
        if (value.type == od::json_type::string) {
          DecimalText decimal;
          if (parse_decimal(value.text, decimal) && !has_schema && looks_like_base64(value.text)) {
            return fail(DecodeFailure::InvalidValue,
                        quoted_excerpt(value.text) + " looks like Debezium's Decimal bytes (base64), whose scale "
                                                     "only the schema gives: send the schema "
                                                     "(value.converter.schemas.enable=true) or set "
                                                     "decimal.handling.mode=string in the connector");
          }
        }
        break;
      case ColumnType::SmallInt:
      case ColumnType::Integer:
      case ColumnType::BigInt:
      case ColumnType::Real:
      case ColumnType::Double:
      case ColumnType::Boolean:
        // Debezium's own examples write key fields as strings ("id": "1").
        if (value.type == od::json_type::string) return converter_.from_text_form(type, value.text, out);
        break;
      case ColumnType::Text:
      case ColumnType::Uuid:
      case ColumnType::Timestamp:
      case ColumnType::TimestampTz:
      case ColumnType::Bytea:
      case ColumnType::Time:
        break;
    }
    return converter_.from_json(type, value, value.type, out);
  }

  static bool looks_like_base64(std::string_view text) {
    std::string scratch;
    return !text.empty() && !decode_base64(text, scratch);
  }

  /// Decimal: base64 of the unscaled two's complement integer, the scale in the schema's
  /// parameters (or a JSON number, with decimal.format=NUMERIC). VariableScaleDecimal:
  /// {"scale": N, "value": base64}.
  Failure decimal(const JsonTree& tree, uint32_t field, const std::optional<FieldSchema>& schema, Semantic semantic,
                  const ColumnConfig& column, CopyBuffer& out) {
    const char* name = semantic == Semantic::Decimal ? "org.apache.kafka.connect.data.Decimal"
                                                     : "io.debezium.data.VariableScaleDecimal";
    const ColumnType type = column.type;
    if (type != ColumnType::Numeric && type != ColumnType::Text && type != ColumnType::Real &&
        type != ColumnType::Double && !is_integer_type(type)) {
      return fail(DecodeFailure::WrongType, std::string(name) + " cannot be stored in a " + type_name(type) + " column");
    }
    const FoundValue& value = tree.node(field).value;
    std::string_view bytes_base64;
    int64_t scale = 0;
    if (semantic == Semantic::Decimal) {
      if (value.type == od::json_type::number) return converter_.from_text_form(type, trim_json_whitespace(value.raw), out);
      if (value.type != od::json_type::string) {
        return fail(DecodeFailure::WrongType,
                    std::string(name) + ": expected base64 bytes, got " + json_type_name(value.type));
      }
      bytes_base64 = value.text;
      const uint32_t parameters = tree.member(schema->node, "parameters");
      const auto scale_text = tree.string_member(parameters, "scale");
      const uint32_t scale_number = tree.member(parameters, "scale");
      if (scale_text) {
        if (parse_int64(*scale_text, scale) != IntegerParse::Ok) scale = INT64_MIN;
      } else if (tree.is(scale_number, od::json_type::number)) {
        if (parse_int64(trim_json_whitespace(tree.node(scale_number).value.raw), scale) != IntegerParse::Ok) {
          scale = INT64_MIN;
        }
      } else {
        return fail(DecodeFailure::InvalidValue, std::string(name) + ": the schema has no \"scale\" parameter");
      }
    } else {
      const uint32_t scale_node = tree.member(field, "scale");
      const auto value_text = tree.string_member(field, "value");
      if (value.type != od::json_type::object || !value_text || !tree.is(scale_node, od::json_type::number) ||
          parse_int64(trim_json_whitespace(tree.node(scale_node).value.raw), scale) != IntegerParse::Ok) {
        return fail(DecodeFailure::WrongType,
                    std::string(name) + ": expected {\"scale\": integer, \"value\": base64 bytes}");
      }
      bytes_base64 = *value_text;
    }
    if (scale < -kNumericMaxDisplayScale || scale > kNumericMaxDisplayScale) {
      return fail(DecodeFailure::InvalidValue, std::string(name) + ": the scale is missing or out of range");
    }
    decimal_.bytes.clear();
    if (const TextProblem problem = decode_base64(bytes_base64, decimal_.bytes)) {
      return fail(problem, std::string(name) + ": invalid base64 " + quoted_excerpt(bytes_base64));
    }
    decimal_text_of_unscaled(static_cast<int32_t>(scale), decimal_);
    return converter_.from_text_form(type, decimal_.text, out);
  }

  static DecodeError record_error(ValueError error) { return DecodeError{"", std::move(error.reason), error.failure}; }

  const SinkConfig& route_;
  ValueConverter converter_;
  JsonTree value_;
  JsonTree key_;
  std::vector<bool> is_primary_key_;
  std::vector<std::vector<PointerToken>> image_paths_;  // per column; empty for metadata sources
  std::string mask_;             // per column: '1' where the row image holds the placeholder
  DecimalScratch decimal_;  // Decimal bytes and their text
};

DebeziumDecoder::DebeziumDecoder(const SinkConfig& route) : route_(route), state_(std::make_unique<State>(route)) {}
DebeziumDecoder::~DebeziumDecoder() = default;

std::variant<DecodedChange, DecodeError> DebeziumDecoder::decode(const RecordView& record, CopyBuffer& out,
                                                                 std::vector<UnknownField>* unknown) {
  return state_->decode(record, out, unknown);
}

std::optional<std::vector<std::string>> DebeziumDecoder::key_fields(const RecordView& record) {
  if (!record.key) return std::nullopt;
  JsonTree tree;
  if (tree.parse(*record.key) || !tree.is(0, od::json_type::object)) return std::nullopt;
  uint32_t key = 0;
  const uint32_t payload = tree.member(0, "payload");
  if (payload != kNoNode && tree.member(0, "schema") != kNoNode) key = payload;
  if (!tree.is(key, od::json_type::object)) return std::nullopt;
  std::vector<std::string> names;
  for (uint32_t field = tree.node(key).first_child; field != kNoNode; field = tree.node(field).next_sibling) {
    names.emplace_back(tree.node(field).key);
  }
  return names;
}

bool DebeziumDecoder::carries_row(const RecordView& record) {
  if (!record.value) return false;
  JsonTree tree;
  if (tree.parse(*record.value) || !tree.is(0, od::json_type::object)) return false;
  const Envelope envelope = unwrap(tree);
  if (envelope.payload == kNoNode) return false;
  const std::optional<std::string_view> op = tree.string_member(envelope.payload, "op");
  return op && (*op == "c" || *op == "r" || *op == "u" || *op == "d");
}

std::optional<TableShape> DebeziumDecoder::table_shape(const RecordView& record, std::string* why_not) {
  const auto refuse = [&](std::string reason) -> std::optional<TableShape> {
    if (why_not != nullptr) *why_not = std::move(reason);
    return std::nullopt;
  };
  if (!record.value) return refuse("a tombstone describes no table");
  JsonTree tree;
  if (Failure failure = tree.parse(*record.value)) return refuse(failure->reason);
  if (!tree.is(0, od::json_type::object)) return refuse("the value is not a Debezium change event");
  const Envelope envelope = unwrap(tree);
  if (envelope.schema == kNoNode) {
    return refuse("the event has no schema wrapper (set value.converter.schemas.enable=true in the connector), "
                  "so the table's column types are unknown");
  }
  uint32_t image = image_schema(tree, envelope, "after");
  if (image == kNoNode) image = image_schema(tree, envelope, "before");
  if (image == kNoNode) return refuse("the event's schema describes no row (no \"after\" or \"before\" struct)");

  TableShape shape;
  std::vector<std::pair<std::string, std::string>> unmapped;  // name, why
  const uint32_t fields = tree.member(image, "fields");
  if (!tree.is(fields, od::json_type::array)) return refuse("the row schema has no \"fields\" array");
  for (uint32_t field = tree.node(fields).first_child; field != kNoNode; field = tree.node(field).next_sibling) {
    const auto name = tree.string_member(field, "field");
    if (!name) return refuse("a field of the row schema has no name");
    const FieldSchema schema{tree.string_member(field, "type").value_or(""),
                             tree.string_member(field, "name").value_or(""), field};
    const std::optional<ColumnType> type = column_type_for(schema);
    if (!type) {
      unmapped.emplace_back(*name, "field " + quoted_excerpt(*name) + " has schema type " +
                                       quoted_excerpt(schema.type) + ", which maps to no column type");
      continue;
    }
    ColumnConfig column;
    column.name = std::string(*name);
    column.type = *type;
    column.source = ColumnSource{ColumnSource::Kind::JsonPointer, json_pointer_to_member(*name)};
    const uint32_t optional = tree.member(field, "optional");
    column.nullable = tree.is(optional, od::json_type::boolean) ? tree.node(optional).value.boolean
                                                                : tree.string_member(field, "optional") == "true";
    shape.columns.push_back(std::move(column));
  }

  if (record.key) {
    JsonTree key;
    if (!key.parse(*record.key) && key.is(0, od::json_type::object)) {
      const uint32_t key_schema = key.member(0, "schema");
      if (key.member(0, "payload") != kNoNode && key.is(key_schema, od::json_type::object)) {
        shape.primary_key = struct_field_names(key, key_schema);
      } else if (auto names = key_fields(record)) {
        shape.primary_key = std::move(*names);
      }
    }
  }
  for (auto& [name, why] : unmapped) {
    if (std::find(shape.primary_key.begin(), shape.primary_key.end(), name) != shape.primary_key.end()) {
      return refuse("key " + why);
    }
    shape.left_out.push_back(std::move(why));
  }
  // Only the key is NOT NULL in the replica, whatever the source says: a row first seen
  // through an update whose TOASTed column was unchanged has no value for that column.
  for (ColumnConfig& column : shape.columns) {
    column.nullable = std::find(shape.primary_key.begin(), shape.primary_key.end(), column.name) ==
                      shape.primary_key.end();
  }
  return shape;
}

}  // namespace kps
