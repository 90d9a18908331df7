#pragma once
// Internal to the Debezium decoder: a JSON document as a tree of views, for envelopes that
// must be read out of order (the schema describes the payload, the key names the row),
// which the on-demand parser cannot do by itself. simdjson inside, like the decoders.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "connector/json_value_converter.h"
#include "connector/wanted_paths.h"

namespace kps::codec {

/// No node: an absent member, or a lookup in something that is not an object.
inline constexpr uint32_t kNoNode = UINT32_MAX;

/// One value of a parsed document; members and elements are linked in document order.
struct JsonNode {
  FoundValue value;
  std::string_view key;  // the member name, when the parent is an object
  uint32_t first_child = kNoNode;
  uint32_t next_sibling = kNoNode;
};

/// A whole JSON document as a tree of views, walked (and so validated) once. Nodes point
/// into the reader's copy of the input and the parser's string buffer: valid until the
/// next parse. The node vector keeps its capacity, so a warm tree allocates nothing.
class JsonTree {
 public:
  /// Node 0 is the root on success.
  Failure parse(std::string_view input) {
    nodes_.clear();
    if (Failure failure = find_nul_byte(input)) return failure;
    if (const auto error = reader_.read(input).get(document_)) return invalid_json(error);
    record_end_ = reader_.data() + input.size();
    od::json_type type;
    if (const auto error = document_.type().get(type)) return invalid_json(error);
    nodes_.emplace_back();
    if (type != od::json_type::object) {
      if (Failure failure = validate_document(document_, input)) return failure;
      nodes_[0].value.type = type;
      nodes_[0].value.raw = trim_json_whitespace(std::string_view(reader_.data(), input.size()));
      if (type == od::json_type::string) {
        std::string_view text;
        if (const auto error = document_.get_string().get(text)) return invalid_json(error);
        nodes_[0].value.text = text;
      }
      return std::nullopt;
    }
    od::object root;
    if (const auto error = document_.get_object().get(root)) return invalid_json(error);
    if (Failure failure = walk_members(root, 1, 0)) return failure;
    if (document_.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      return invalid_json("unexpected content after the top-level value");
    }
    nodes_[0].value.type = od::json_type::object;
    nodes_[0].value.raw = std::string_view(reader_.data(), input.size());
    return std::nullopt;
  }

  const JsonNode& node(uint32_t index) const { return nodes_[index]; }
  od::json_type type(uint32_t index) const { return nodes_[index].value.type; }
  bool is(uint32_t index, od::json_type type) const { return index != kNoNode && nodes_[index].value.type == type; }

  /// The first member `name` of an object; kNoNode when absent or `object` is no object.
  uint32_t member(uint32_t object, std::string_view name) const {
    if (!is(object, od::json_type::object)) return kNoNode;
    for (uint32_t child = nodes_[object].first_child; child != kNoNode; child = nodes_[child].next_sibling) {
      if (nodes_[child].key == name) return child;
    }
    return kNoNode;
  }

  /// A member's string content, when it is a string.
  std::optional<std::string_view> string_member(uint32_t object, std::string_view name) const {
    const uint32_t found = member(object, name);
    if (!is(found, od::json_type::string)) return std::nullopt;
    return nodes_[found].value.text;
  }

 private:
  uint32_t add_child(uint32_t parent, uint32_t& last) {
    const auto child = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
    if (last == kNoNode) {
      nodes_[parent].first_child = child;
    } else {
      nodes_[last].next_sibling = child;
    }
    last = child;
    return child;
  }

  Failure walk_members(od::object& object, int depth, uint32_t parent) {
    uint32_t last = kNoNode;
    for (auto field_result : object) {
      od::field field;
      if (const auto error = std::move(field_result).get(field)) return invalid_json(error);
      std::string_view key;
      if (const auto error = field.unescaped_key().get(key)) return invalid_json(error);
      const uint32_t child = add_child(parent, last);
      nodes_[child].key = key;
      if (Failure failure = walk_value(field.value(), depth + 1, child)) return failure;
    }
    return std::nullopt;
  }

  Failure walk_elements(od::array& array, int depth, uint32_t parent) {
    uint32_t last = kNoNode;
    for (auto element_result : array) {
      od::value element;
      if (const auto error = std::move(element_result).get(element)) return invalid_json(error);
      const uint32_t child = add_child(parent, last);
      if (Failure failure = walk_value(element, depth + 1, child)) return failure;
    }
    return std::nullopt;
  }

  /// validate_value, keeping what it meets.
  Failure walk_value(od::value value, int depth, uint32_t self) {
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
        if (Failure failure = walk_members(object, depth, self)) return failure;
        found.raw = container_text(start);
        break;
      }
      case od::json_type::array: {
        const char* start = found.raw.data();
        od::array array;
        if (const auto error = value.get_array().get(array)) return invalid_json(error);
        if (Failure failure = walk_elements(array, depth, self)) return failure;
        found.raw = container_text(start);
        break;
      }
      case od::json_type::number:
        if (Failure failure = validate_number_token(found.raw)) return failure;
        break;
      case od::json_type::string:
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
    nodes_[self].value = found;
    return std::nullopt;
  }

  /// The text of the container starting at `start` that the walk has just left.
  std::string_view container_text(const char* start) {
    const char* end = record_end_;
    const char* next = nullptr;
    if (document_.current_location().get(next) == simdjson::SUCCESS) end = next;
    while (end > start && end[-1] != '}' && end[-1] != ']') --end;
    return std::string_view(start, static_cast<size_t>(end - start));
  }

  JsonReader reader_;
  od::document document_;
  const char* record_end_ = nullptr;
  std::vector<JsonNode> nodes_;
};

/// The value `path` points at from `image` (the image itself for an empty path); kNoNode
/// when it reaches nothing.
inline uint32_t find_in(const JsonTree& tree, uint32_t image, const std::vector<PointerToken>& path) {
  uint32_t found = image;
  for (const PointerToken& token : path) {
    if (found == kNoNode) return kNoNode;
    if (tree.is(found, od::json_type::object)) {
      found = tree.member(found, token.key);
    } else if (tree.is(found, od::json_type::array) && token.array_index) {
      uint32_t element = tree.node(found).first_child;
      for (size_t i = 0; i < *token.array_index && element != kNoNode; ++i) element = tree.node(element).next_sibling;
      found = element;
    } else {
      return kNoNode;
    }
  }
  return found;
}

}  // namespace kps::codec
