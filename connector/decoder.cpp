#include "connector/decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#include "connector/json_value_converter.h"
#include "connector/value_text.h"
#include "connector/wanted_paths.h"

namespace kps {
namespace {

using namespace codec;

// ---- Lookup ---------------------------------------------------------------------

/// Finds the value `tokens` (non-empty) points at in a validated document whose root is
/// an object. `present` is false for an absent member, an index past the end, or a
/// path that runs into a scalar: all of them mean "no value here".
simdjson::error_code find_pointer(od::document& document, const std::vector<PointerToken>& tokens,
                                  od::value& found, bool& present) {
  present = false;
  document.rewind();
  od::object root;
  SIMDJSON_TRY(document.get_object().get(root));
  auto first = root.find_field(tokens[0].key);
  if (first.error() == simdjson::NO_SUCH_FIELD) return simdjson::SUCCESS;
  SIMDJSON_TRY(std::move(first).get(found));
  for (size_t i = 1; i < tokens.size(); ++i) {
    od::json_type type;
    SIMDJSON_TRY(found.type().get(type));
    od::value child;
    if (type == od::json_type::object) {
      auto member = found.find_field(tokens[i].key);
      if (member.error() == simdjson::NO_SUCH_FIELD) return simdjson::SUCCESS;
      SIMDJSON_TRY(std::move(member).get(child));
    } else if (type == od::json_type::array && tokens[i].array_index) {
      od::array array;
      SIMDJSON_TRY(found.get_array().get(array));
      auto element = array.at(*tokens[i].array_index);
      if (element.error() == simdjson::INDEX_OUT_OF_BOUNDS) return simdjson::SUCCESS;
      SIMDJSON_TRY(std::move(element).get(child));
    } else {
      return simdjson::SUCCESS;
    }
    found = child;
  }
  present = true;
  return simdjson::SUCCESS;
}


}  // namespace

struct Decoder::State {
  explicit State(const SinkConfig& sink) : sink_(sink), converter_(sink.timestamp_unit) {
    pointers_.reserve(sink_.columns.size());
    column_name_pointers_.resize(sink_.columns.size());
    for (const ColumnConfig& column : sink_.columns) {
      pointers_.push_back(column.source.kind == ColumnSource::Kind::JsonPointer
                             ? parse_json_pointer(column.source.argument)
                             : std::vector<PointerToken>{});
    }
    is_primary_key_.assign(sink_.columns.size(), false);
    for (const size_t index : sink_.primary_key_columns) {
      if (index >= sink_.columns.size()) throw std::invalid_argument("primary-key column index out of range");
      is_primary_key_[index] = true;
      const ColumnConfig& column = sink_.columns[index];
      column_name_pointers_[index] = {PointerToken{column.name, std::nullopt}};
      if (column.source.kind == ColumnSource::Kind::JsonPointer) tombstone_needs_key_document_ = true;
    }
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      if (sink_.columns[index].source.kind == ColumnSource::Kind::JsonPointer) {
        paths_.add(pointers_[index], static_cast<uint32_t>(index));
      }
    }
    if (sink_.dedup) {
      for (const std::string& field : sink_.dedup->fields) {
        paths_.add(parse_json_pointer(field), static_cast<uint32_t>(sink_.columns.size() + dedup_field_count_));
        ++dedup_field_count_;
      }
    }
    const size_t slots = sink_.columns.size() + dedup_field_count_;
    found_.resize(slots);
    present_.resize(slots);
    visit_stamps_.resize(paths_.node_count());
  }

  std::optional<DecodeError> decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
    if (!record.value) {
      return DecodeError{"", "the record has no value (it is a tombstone)", DecodeFailure::Tombstone};
    }
    const std::string_view input = *record.value;
    if (Failure failure = find_nul_byte(input)) return record_error(std::move(*failure));
    od::document document;
    if (const auto error = document_reader_.read(input).get(document)) return record_error(invalid_json(error));
    od::json_type type;
    if (const auto error = document.type().get(type)) return record_error(invalid_json(error));
    if (type != od::json_type::object) {
      // Validated before its type is judged: "[1, 2" or "nul" is broken JSON, not an array
      // or a null.
      if (Failure failure = validate_document(document, input)) return record_error(std::move(*failure));
      return DecodeError{"", std::string("value is not a JSON object (it is a JSON ") + json_type_name(type) + ")",
                         DecodeFailure::NotAnObject};
    }
    if (Failure failure = walk_document(document, input)) return record_error(std::move(*failure));

    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(sink_.columns.size()));
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      const ColumnConfig& column = sink_.columns[index];
      Failure failure = column.source.kind == ColumnSource::Kind::JsonPointer ? encode_found(column, index, out)
                                                                              : encode_from_metadata(column, record, out);
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), failure->failure};
      }
    }
    if (identity != nullptr) read_identity(*identity);
    return std::nullopt;
  }

  /// Walks a record whose root is an object once, start to end: validates it and keeps
  /// every wanted value in found_ / present_.
  Failure walk_document(od::document& document, std::string_view input) {
    std::fill(present_.begin(), present_.end(), uint8_t{0});
    ignored_.clear();
    if (++walk_stamp_ == 0) {  // wrapped: stamps of long ago could look current
      std::fill(visit_stamps_.begin(), visit_stamps_.end(), 0u);
      walk_stamp_ = 1;
    }
    document_ = &document;
    record_end_ = document_reader_.data() + input.size();
    od::object root;
    if (const auto error = document.get_object().get(root)) return invalid_json(error);
    if (Failure failure = walk_object(root, 1, paths_.root())) return failure;
    // Past the end of the top-level value, only the end of the input may follow.
    if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      return invalid_json("unexpected content after the top-level value");
    }
    FoundValue whole{od::json_type::object, std::string_view(document_reader_.data(), input.size()), {}, false};
    keep(paths_.root(), whole);  // an empty pointer: the whole record
    return std::nullopt;
  }

  /// validate_object, handing members on a wanted path to walk_value. A member name
  /// matches a pointer token as written in the record, escapes and all, and the first of
  /// two members of one name is the one read: what a simdjson find_field lookup does.
  Failure walk_object(od::object& object, int depth, const WantedPaths::Node& node) {
    for (auto field_result : object) {
      od::field field;
      if (const auto error = std::move(field_result).get(field)) return invalid_json(error);
      const WantedPaths::Child* wanted = nullptr;
      for (const WantedPaths::Child& child : node.children) {
        if (field.key().unsafe_is_equal(child.token.key)) {
          if (visit_stamps_[child.node] != walk_stamp_) wanted = &child;
          break;
        }
      }
      std::string_view key;  // unescaping is what checks the escapes
      if (const auto error = field.unescaped_key().get(key)) return invalid_json(error);
      Failure failure;
      if (wanted != nullptr) {
        visit_stamps_[wanted->node] = walk_stamp_;
        failure = walk_value(field.value(), depth + 1, paths_.node(wanted->node));
      } else {
        // Columns by name take top-level members only: any other one is ignored, and counted.
        if (count_ignored_ && depth == 1) ignored_.push_back(key);
        failure = validate_value(field.value(), depth + 1);
      }
      if (failure) return failure;
    }
    return std::nullopt;
  }

  /// validate_array, handing elements a pointer indexes to walk_value.
  Failure walk_array(od::array& array, int depth, const WantedPaths::Node& node) {
    size_t index = 0;
    for (auto element_result : array) {
      od::value element;
      if (const auto error = std::move(element_result).get(element)) return invalid_json(error);
      const WantedPaths::Child* wanted = nullptr;
      for (const WantedPaths::Child& child : node.children) {
        if (child.token.array_index == index) {
          wanted = &child;
          break;
        }
      }
      ++index;
      Failure failure = wanted != nullptr ? walk_value(element, depth + 1, paths_.node(wanted->node))
                                          : validate_value(element, depth + 1);
      if (failure) return failure;
    }
    return std::nullopt;
  }

  /// validate_value for a value on a wanted path: keeps it for the slots ending here and
  /// descends into the members and elements that lie on longer paths.
  Failure walk_value(od::value value, int depth, const WantedPaths::Node& node) {
    FoundValue found;
    if (const auto error = value.type().get(found.type)) return invalid_json(error);
    const bool container = found.type == od::json_type::object || found.type == od::json_type::array;
    if (container && depth > kMaxJsonDepth) return invalid_json("nested deeper than 1024 levels");
    found.raw = value.raw_json_token();
    switch (found.type) {
      case od::json_type::object: {
        const char* start = found.raw.data();
        od::object object;
        if (const auto error = value.get_object().get(object)) return invalid_json(error);
        if (Failure failure = walk_object(object, depth, node)) return failure;
        if (!node.slots.empty()) found.raw = container_text(start);
        break;
      }
      case od::json_type::array: {
        const char* start = found.raw.data();
        od::array array;
        if (const auto error = value.get_array().get(array)) return invalid_json(error);
        if (Failure failure = walk_array(array, depth, node)) return failure;
        if (!node.slots.empty()) found.raw = container_text(start);
        break;
      }
      case od::json_type::number:
        if (Failure failure = validate_number_token(found.raw)) return failure;
        break;
      case od::json_type::string:  // unescaping is what checks the escapes
        if (const auto error = value.get_string().get(found.text)) return invalid_json(error);
        break;
      case od::json_type::boolean:
        if (value.get_bool().get(found.boolean) != simdjson::SUCCESS) return malformed_literal(found.raw);
        break;
      case od::json_type::null: {
        bool is_null = false;
        if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return malformed_literal(found.raw);
        break;
      }
    }
    keep(node, found);
    return std::nullopt;
  }

  /// The text of the container starting at `start` that the walk has just left: up to
  /// its closing bracket, which is the last one before the walk's next token.
  std::string_view container_text(const char* start) const {
    const char* end = record_end_;
    const char* next = nullptr;
    if (document_->current_location().get(next) == simdjson::SUCCESS) end = next;
    while (end > start && end[-1] != '}' && end[-1] != ']') --end;
    return std::string_view(start, static_cast<size_t>(end - start));
  }

  void keep(const WantedPaths::Node& node, const FoundValue& found) {
    for (const uint32_t slot : node.slots) {
      found_[slot] = found;
      present_[slot] = 1;
    }
  }

  Failure encode_found(const ColumnConfig& column, size_t slot, CopyBuffer& out) {
    if (!present_[slot]) return append_absent(column, Absence::Missing, out);
    FoundValue& value = found_[slot];
    if (value.type == od::json_type::null) return append_absent(column, Absence::Null, out);
    return converter_.from_json(column.type, value, value.type, out);
  }

  /// Each dedup field's JSON value in a canonical form, length-prefixed: a number as
  /// the canonical text of its exact value, a string as its unescaped content in
  /// quotes, true/false as written, an object or array as its JSON text as written.
  /// Empty when a field is missing or null (such a record cannot be told apart from
  /// others, so it is never dropped). Numbers written in their canonical form (42, 0.5)
  /// and strings without escapes keep the bytes earlier versions stored, so identities
  /// already in the store still match.
  void read_identity(std::string& identity) {
    identity.clear();
    for (size_t field = 0; field < dedup_field_count_; ++field) {
      const size_t slot = sink_.columns.size() + field;
      const FoundValue& found = found_[slot];
      if (!present_[slot] || found.type == od::json_type::null) {
        identity.clear();
        return;
      }
      std::string_view raw = found.raw;
      if (found.type == od::json_type::string) {
        // By content: "\u0041" and "A" are one string. The quotes keep a string apart
        // from a number or literal of the same characters ("1" is not 1).
        identity_scratch_.assign(1, '"');
        identity_scratch_.append(found.text);
        identity_scratch_ += '"';
        raw = identity_scratch_;
      } else if (found.type == od::json_type::number) {
        // By exact decimal value: 1, 1.0 and 1e0 are one identity. A number beyond
        // numeric's limits keeps its text as written.
        raw = trim_json_whitespace(raw);
        identity_scratch_.clear();
        if (canonical_decimal_text(raw, identity_scratch_)) raw = identity_scratch_;
      }
      raw = trim_json_whitespace(raw);
      const auto size = static_cast<uint32_t>(raw.size());
      identity.append(reinterpret_cast<const char*>(&size), sizeof size);
      identity.append(raw);
    }
  }

  std::optional<DecodeError> decode_tombstone_key(const RecordView& record, CopyBuffer& out) {
    if (!record.key) return DecodeError{"", "tombstone without a key", DecodeFailure::InvalidKey};
    const std::string_view key = *record.key;

    enum class KeyShape { Object, JsonScalar, Other };
    KeyShape shape = KeyShape::Other;
    od::document document;
    if (tombstone_needs_key_document_) {
      // A key that is not valid JSON is no error: it is the text form of a bare value.
      const bool parsed = document_reader_.read(key).get(document) == simdjson::SUCCESS &&
                          !validate_document(document, key).has_value();
      od::json_type type;
      if (parsed && document.type().get(type) == simdjson::SUCCESS) {
        if (type == od::json_type::object) {
          shape = KeyShape::Object;
        } else if (type != od::json_type::array) {
          shape = KeyShape::JsonScalar;
        }
      }
    }

    const size_t tuple_start = out.size();
    out.begin_tuple(static_cast<int16_t>(sink_.columns.size()));
    for (size_t index = 0; index < sink_.columns.size(); ++index) {
      const ColumnConfig& column = sink_.columns[index];
      Failure failure;
      if (!is_primary_key_[index]) {
        out.append_null();
      } else if (column.source.kind != ColumnSource::Kind::JsonPointer) {
        // Exactly what decode_value gave the row, so the tombstone names the same row.
        failure = encode_from_metadata(column, record, out);
      } else if (shape == KeyShape::Object) {
        failure = encode_from_key_object(column, index, document, out);
      } else if (sink_.primary_key_columns.size() != 1) {
        failure = fail(DecodeFailure::InvalidKey, "the tombstone's key is not a JSON object, so it cannot name the " +
                                                      std::to_string(sink_.primary_key_columns.size()) +
                                                      " columns of the primary key");
      } else {
        failure = encode_bare_key(column, key, shape == KeyShape::JsonScalar ? &document : nullptr, out);
      }
      if (failure) {
        out.truncate(tuple_start);
        return DecodeError{column.name, std::move(failure->reason), DecodeFailure::InvalidKey};
      }
    }
    return std::nullopt;
  }


  Failure encode_from_metadata(const ColumnConfig& column, const RecordView& record, CopyBuffer& out) {
    return converter_.from_metadata(column, record, out);
  }

  /// The column named in the key object by its own name, or else by its value pointer.
  Failure encode_from_key_object(const ColumnConfig& column, size_t index, od::document& document,
                                 CopyBuffer& out) {
    od::value value;
    bool present = false;
    if (const auto error = find_pointer(document, column_name_pointers_[index], value, present)) {
      return invalid_json(error);
    }
    if (!present && !pointers_[index].empty()) {
      if (const auto error = find_pointer(document, pointers_[index], value, present)) return invalid_json(error);
    }
    if (!present) {
      return fail(DecodeFailure::InvalidKey, "the tombstone's key has no value for this primary-key column");
    }
    od::json_type type;
    if (const auto error = value.type().get(type)) return invalid_json(error);
    if (type == od::json_type::null) return append_absent(column, Absence::Null, out);
    return with_source("tombstone key", converter_.from_json(column.type, value, type, out));
  }

  /// A one-column key written as the bare value: a JSON scalar when it parses as one
  /// (42, "abc"), else the text form of the raw bytes (abc, a uuid without quotes).
  /// A scalar that does not convert as JSON (the number 42 for a text key, the string
  /// "42" for a bigint key) falls back to its text form too.
  Failure encode_bare_key(const ColumnConfig& column, std::string_view key, od::document* scalar_document,
                          CopyBuffer& out) {
    std::string_view text_form = key;
    if (scalar_document != nullptr) {
      od::document& document = *scalar_document;
      document.rewind();
      od::json_type type;
      if (const auto error = document.type().get(type)) return invalid_json(error);
      if (type != od::json_type::null) {
        const size_t before = out.size();
        const Failure as_json = converter_.from_json(column.type, document, type, out);
        if (!as_json) return std::nullopt;
        out.truncate(before);
      }
      document.rewind();
      if (type == od::json_type::string) {
        if (const auto error = document.get_string().get(text_form)) return invalid_json(error);
      } else {
        text_form = trim_json_whitespace(key);
      }
    }
    return with_source("tombstone key", converter_.from_text_form(column.type, text_form, out));
  }

  static DecodeError record_error(ValueError error) {
    return DecodeError{"", std::move(error.reason), error.failure};
  }

  const SinkConfig& sink_;
  JsonReader document_reader_;  // the record value, or a tombstone's key
  ValueConverter converter_;
  std::vector<std::vector<PointerToken>> pointers_;              // per column; empty for metadata sources
  std::vector<std::vector<PointerToken>> column_name_pointers_;  // per primary-key column: its name
  std::vector<bool> is_primary_key_;
  bool tombstone_needs_key_document_ = false;
  WantedPaths paths_;  // every column's pointer, then every dedup field's, as slots
  size_t dedup_field_count_ = 0;
  // Per record, filled by the walk; sized once, so a record allocates nothing.
  std::vector<FoundValue> found_;        // per slot: the value its pointer reached
  std::vector<uint8_t> present_;         // per slot: whether it reached one
  const bool count_ignored_ = sink_.columns_by_name;
  std::vector<std::string_view> ignored_;  // of the last record: views into the parser's string buffer
  std::vector<uint32_t> visit_stamps_;   // per node: walk_stamp_ once a member reached it
  uint32_t walk_stamp_ = 0;
  od::document* document_ = nullptr;     // the record being walked
  const char* record_end_ = nullptr;     // the end of its text in the reader's copy
  std::string identity_scratch_;  // one canonical dedup field; reused, so no allocation per record
};

Decoder::Decoder(const SinkConfig& sink) : sink_(sink), state_(std::make_unique<State>(sink)) {}

Decoder::~Decoder() = default;

std::optional<DecodeError> Decoder::decode_value(const RecordView& record, CopyBuffer& out, std::string* identity) {
  return state_->decode_value(record, out, identity);
}

std::span<const std::string_view> Decoder::ignored_fields() const { return state_->ignored_; }

std::optional<DecodeError> Decoder::decode_tombstone_key(const RecordView& record, CopyBuffer& out) {
  return state_->decode_tombstone_key(record, out);
}

#define KPS_STRINGIFY_TOKENS(tokens) #tokens
#define KPS_STRINGIFY(macro) KPS_STRINGIFY_TOKENS(macro)

const char* simdjson_version() { return KPS_STRINGIFY(SIMDJSON_VERSION); }

std::string simdjson_kernel() { return simdjson::get_active_implementation()->name(); }

const char* decode_failure_name(DecodeFailure failure) {
  switch (failure) {
    case DecodeFailure::InvalidJson: return "invalid_json";
    case DecodeFailure::NotAnObject: return "not_an_object";
    case DecodeFailure::MissingValue: return "missing_value";
    case DecodeFailure::WrongType: return "wrong_type";
    case DecodeFailure::OutOfRange: return "out_of_range";
    case DecodeFailure::InvalidValue: return "invalid_value";
    case DecodeFailure::Tombstone: return "unexpected_tombstone";
    case DecodeFailure::InvalidKey: return "invalid_key";
    case DecodeFailure::TooLarge: return "too_large";
  }
  return "invalid_value";
}

}  // namespace kps
