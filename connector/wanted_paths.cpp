#include "connector/wanted_paths.h"

#include <algorithm>
#include <stdexcept>

namespace kps {

std::string json_pointer_to_member(std::string_view name) {
  std::string pointer = "/";
  for (const char c : name) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
  return pointer;
}

std::vector<PointerToken> parse_json_pointer(std::string_view pointer) {
  std::vector<PointerToken> tokens;
  if (pointer.empty()) return tokens;  // the whole document
  if (pointer[0] != '/') {
    throw std::invalid_argument("JSON pointer \"" + std::string(pointer) + "\" does not start with '/'");
  }
  size_t start = 1;
  while (true) {
    const size_t end = std::min(pointer.find('/', start), pointer.size());
    PointerToken token;
    for (size_t pos = start; pos < end; ++pos) {
      if (pointer[pos] != '~') {
        token.key += pointer[pos];
        continue;
      }
      const char escaped = pos + 1 < end ? pointer[pos + 1] : '\0';
      if (escaped != '0' && escaped != '1') {
        throw std::invalid_argument("JSON pointer \"" + std::string(pointer) + "\" has a '~' not followed by 0 or 1");
      }
      token.key += escaped == '0' ? '~' : '/';
      ++pos;
    }
    // RFC 6901 array indexes: "0" or digits without a leading zero.
    const std::string& key = token.key;
    const bool all_digits = std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!key.empty() && key.size() <= 18 && all_digits && (key.size() == 1 || key[0] != '0')) {
      token.array_index = std::stoull(key);
    }
    tokens.push_back(std::move(token));
    if (end == pointer.size()) break;
    start = end + 1;
  }
  return tokens;
}

void WantedPaths::add(const std::vector<PointerToken>& tokens, uint32_t slot) {
  uint32_t current = 0;
  for (const PointerToken& token : tokens) {
    const auto& children = nodes_[current].children;
    const auto same = std::find_if(children.begin(), children.end(),
                                   [&](const Child& child) { return child.token.key == token.key; });
    if (same != children.end()) {
      current = same->node;
      continue;
    }
    const auto created = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{});  // may move nodes_: `children` is not used past this line
    nodes_[current].children.push_back(Child{token, created});
    current = created;
  }
  nodes_[current].slots.push_back(slot);
  slot_count_ = std::max(slot_count_, static_cast<size_t>(slot) + 1);
}

}  // namespace kps
