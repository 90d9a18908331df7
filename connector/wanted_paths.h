#pragma once
// The JSON pointers one sink reads, merged into a tree of member names, so that a decoder
// can walk each record once from its root and hand every value to the columns that want
// it, descending only into members on a wanted path. Built once per sink; pure data, no
// simdjson, so its shape is unit-tested on its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kps {

/// One reference token of an RFC 6901 pointer, unescaped ("~1" is '/', "~0" is '~').
struct PointerToken {
  std::string key;                    // the member name to look up in an object
  std::optional<size_t> array_index;  // set when the token can also index an array
};

/// The tokens of `pointer` ("" is the whole document, no tokens). Throws
/// std::invalid_argument for a pointer not starting with '/' or a '~' not followed by 0 or 1.
std::vector<PointerToken> parse_json_pointer(std::string_view pointer);

/// The JSON pointer of a top-level member named `name` ("~" and "/" escaped), so that
/// parse_json_pointer gives back one token holding `name` exactly.
std::string json_pointer_to_member(std::string_view name);

/// A tree of wanted paths. Node 0 is the document root. A slot is the caller's number for
/// one pointer (a column index, a dedup field after the columns); a node lists the slots
/// whose pointer ends there. Two pointers with a common prefix share its nodes, so each
/// member of a record is matched once whatever the number of columns reading below it.
class WantedPaths {
 public:
  struct Child {
    PointerToken token;
    uint32_t node = 0;
  };
  struct Node {
    std::vector<Child> children;  // in the order the pointers first named them
    std::vector<uint32_t> slots;  // pointers ending at this node
  };

  /// Adds `tokens` as `slot`'s path.
  void add(const std::vector<PointerToken>& tokens, uint32_t slot);

  const Node& root() const { return nodes_[0]; }
  const Node& node(uint32_t index) const { return nodes_[index]; }
  size_t node_count() const { return nodes_.size(); }
  /// The highest slot added + 1.
  size_t slot_count() const { return slot_count_; }

 private:
  std::vector<Node> nodes_{Node{}};
  size_t slot_count_ = 0;
};

}  // namespace kps
