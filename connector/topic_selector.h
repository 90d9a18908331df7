#pragma once
// Which topics the daemon subscribes to. A sink's topic_pattern matches whole topic names
// with an ECMAScript regex (sink_matches_topic, the test the pipeline routes records by);
// librdkafka would read the same text as a POSIX extended regex searched anywhere in a
// name ("^orders" takes orders-dlq too), and the two dialects differ besides. So no
// pattern reaches librdkafka: the daemon lists the cluster's topics, picks the names here,
// and subscribes to those names. Pure logic: no Kafka, no clock.

#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connector/config.h"

namespace kps {

class TopicSelector {
 public:
  explicit TopicSelector(const Config& config);

  /// Some sink has a topic_pattern: the subscription follows the topics the cluster has.
  bool follows_cluster() const { return !patterns_.empty(); }

  /// The topics to subscribe to, sorted and unique: every sink's exact topic, and each of
  /// `existing_topics` whose whole name a sink's topic_pattern matches; never the dead
  /// letter topic, whatever a pattern says (its records are ours: reading them back
  /// would loop).
  std::vector<std::string> select(std::span<const std::string> existing_topics) const;

  /// Is `topic` one the daemon consumes? The same rule as select(), for one name: what
  /// --until-caught-up waits for and what the offsets subcommand lists must be exactly the
  /// topics subscribed to (a dead letter topic a pattern matches is never consumed, so
  /// waiting for it would never end).
  bool wants(std::string_view topic) const;

 private:
  std::vector<std::string> exact_topics_;
  std::vector<std::regex> patterns_;
  std::string dead_letter_topic_;
};

}  // namespace kps
