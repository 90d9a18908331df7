#include "connector/topic_selector.h"

#include <algorithm>

namespace kps {

TopicSelector::TopicSelector(const Config& config) : dead_letter_topic_(config.errors.dead_letter_topic) {
  for (const SinkConfig& sink : config.sinks) {
    if (!sink.topic.empty()) exact_topics_.push_back(sink.topic);
    // Compiled as sink_matches_topic compiles it, so both always agree on a name.
    if (!sink.topic_pattern.empty()) patterns_.emplace_back(sink.topic_pattern, std::regex::ECMAScript);
  }
}

bool TopicSelector::wants(std::string_view topic) const {
  if (!dead_letter_topic_.empty() && topic == dead_letter_topic_) return false;
  // Kafka's internal topics are never a sink's, whatever a pattern says.
  if (topic == "__consumer_offsets" || topic == "__transaction_state") return false;
  if (std::find(exact_topics_.begin(), exact_topics_.end(), topic) != exact_topics_.end()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const std::regex& pattern) {
    return std::regex_match(topic.begin(), topic.end(), pattern);
  });
}

std::vector<std::string> TopicSelector::select(std::span<const std::string> existing_topics) const {
  std::vector<std::string> selected = exact_topics_;
  for (const std::string& topic : existing_topics) {
    if (wants(topic)) selected.push_back(topic);
  }
  std::erase_if(selected, [&](const std::string& topic) { return !wants(topic); });
  std::sort(selected.begin(), selected.end());
  selected.erase(std::unique(selected.begin(), selected.end()), selected.end());
  return selected;
}

}  // namespace kps
