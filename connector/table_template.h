#pragma once
// A sink's `table` as a template (contract: "Change data capture, routing and columns by
// name"): `{topic}` is the record's topic, `{1}`..`{9}` the capture groups of the sink's
// topic_pattern, `{{` and `}}` literal braces. Parsed once, at config load, so every
// mistake is a config error; resolved once per topic, when the topic is routed.
// Pure logic: no Kafka, no libpq, no clock.

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "connector/config.h"

namespace kps {

class TableTemplate {
 public:
  /// Parses `text` for a sink with `topic_pattern` (empty: the sink names one `topic`, so
  /// there are no groups). The one unescaped '.' outside a placeholder splits schema from
  /// table name, so a topic's own dots stay inside the name it fills (`public.{topic}`
  /// with topic a.b is the table "public"."a.b").
  /// Returns the problem, phrased to follow the key path, when the text is not a template:
  /// an unbalanced brace, an unknown `{name}`, a group the pattern does not have, a group
  /// without a pattern, more than one dot.
  static std::variant<TableTemplate, std::string> parse(std::string_view text, const std::string& topic_pattern);

  /// Does the template hold a placeholder? Without one it names a single table.
  bool has_placeholders() const;

  /// The table for `topic`, or the problem: the topic does not match the whole pattern, or
  /// the resolved schema or name is empty or longer than PostgreSQL's 63 bytes.
  std::variant<QualifiedName, std::string> resolve(std::string_view topic) const;

  const std::string& text() const { return text_; }

 private:
  struct Piece {
    enum class Kind { Literal, Topic, Group };
    Kind kind = Kind::Literal;
    std::string literal;  // Literal only
    size_t group = 0;     // Group only: 1..9
  };
  using Pieces = std::vector<Piece>;

  std::string text_;
  std::optional<Pieces> schema_;  // nullopt: no dot, the search_path decides
  Pieces name_;
  std::optional<std::regex> pattern_;  // only when some piece is a Group
  bool has_placeholders_ = false;
};

}  // namespace kps
