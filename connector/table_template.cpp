#include "connector/table_template.h"

namespace kps {
namespace {

constexpr size_t kMaxIdentifierBytes = 63;  // NAMEDATALEN - 1: longer is silently truncated by the server

std::optional<std::string> resolved_identifier_problem(std::string_view identifier, std::string_view what) {
  if (identifier.empty()) return std::string(what) + " resolves to an empty name";
  if (identifier.size() > kMaxIdentifierBytes) {
    return std::string(what) + " resolves to " + std::to_string(identifier.size()) +
           " bytes; PostgreSQL identifiers are at most 63 bytes";
  }
  return std::nullopt;
}

}  // namespace

std::variant<TableTemplate, std::string> TableTemplate::parse(std::string_view text,
                                                              const std::string& topic_pattern) {
  TableTemplate result;
  result.text_ = std::string(text);
  size_t group_count = 0;
  if (!topic_pattern.empty()) {
    try {
      result.pattern_.emplace(topic_pattern, std::regex::ECMAScript);
      group_count = result.pattern_->mark_count();
    } catch (const std::regex_error&) {
      // The pattern's own problem is reported at its own key; groups cannot be checked.
      result.pattern_.reset();
      group_count = 9;
    }
  }

  std::vector<Pieces> parts(1);
  const auto append_literal = [&parts](char c) {
    Pieces& pieces = parts.back();
    if (pieces.empty() || pieces.back().kind != Piece::Kind::Literal) pieces.push_back(Piece{});
    pieces.back().literal += c;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      append_literal('{');
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      append_literal('}');
      ++i;
    } else if (c == '}') {
      return "has an unbalanced '}' at character " + std::to_string(i + 1) + " (write }} for a literal brace)";
    } else if (c == '{') {
      const size_t close = text.find('}', i + 1);
      const size_t next_open = text.find('{', i + 1);
      if (close == std::string_view::npos || (next_open != std::string_view::npos && next_open < close)) {
        return "has an unbalanced '{' at character " + std::to_string(i + 1) + " (write {{ for a literal brace)";
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      Piece piece;
      if (name == "topic") {
        piece.kind = Piece::Kind::Topic;
      } else if (name.size() == 1 && name[0] >= '1' && name[0] <= '9') {
        piece.kind = Piece::Kind::Group;
        piece.group = static_cast<size_t>(name[0] - '0');
        if (topic_pattern.empty()) {
          return "uses {" + std::string(name) + "}, a capture group, but the sink names a topic, not a topic_pattern";
        }
        if (piece.group > group_count) {
          return "uses {" + std::string(name) + "} but topic_pattern has " + std::to_string(group_count) +
                 " capture group" + (group_count == 1 ? "" : "s");
        }
      } else {
        return "has an unknown placeholder {" + std::string(name) + "}; use {topic} or {1}..{9}";
      }
      parts.back().push_back(std::move(piece));
      result.has_placeholders_ = true;
      i = close;
    } else if (c == '.') {
      if (parts.size() == 2) return "expected name or schema.name with one dot, found \"" + result.text_ + "\"";
      parts.emplace_back();
    } else {
      append_literal(c);
    }
  }
  if (parts.size() == 2) {
    result.schema_ = std::move(parts[0]);
    result.name_ = std::move(parts[1]);
  } else {
    result.name_ = std::move(parts[0]);
  }
  const auto empty_part = [](const Pieces& pieces) { return pieces.empty(); };
  if (empty_part(result.name_) || (result.schema_ && empty_part(*result.schema_))) {
    return "has an empty schema or table name: \"" + result.text_ + "\"";
  }
  return result;
}

bool TableTemplate::has_placeholders() const { return has_placeholders_; }

std::variant<QualifiedName, std::string> TableTemplate::resolve(std::string_view topic) const {
  std::match_results<std::string_view::const_iterator> groups;
  if (pattern_ && !std::regex_match(topic.begin(), topic.end(), groups, *pattern_)) {
    return "topic \"" + std::string(topic) + "\" does not match the sink's topic_pattern";
  }
  const auto fill = [&](const Pieces& pieces) {
    std::string out;
    for (const Piece& piece : pieces) {
      switch (piece.kind) {
        case Piece::Kind::Literal: out += piece.literal; break;
        case Piece::Kind::Topic: out += topic; break;
        case Piece::Kind::Group: out += groups[static_cast<int>(piece.group)].str(); break;
      }
    }
    return out;
  };
  QualifiedName name;
  if (schema_) {
    name.schema = fill(*schema_);
    if (auto why = resolved_identifier_problem(name.schema, "the schema of table \"" + text_ + "\"")) return *why;
  }
  name.name = fill(name_);
  if (auto why = resolved_identifier_problem(name.name, "table \"" + text_ + "\"")) return *why;
  return name;
}

}  // namespace kps
