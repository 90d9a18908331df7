#include "connector/offsets_command.h"

#include <algorithm>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>

#include "connector/kafka_offsets_admin.h"
#include "connector/pg_offsets_table.h"
#include "connector/topic_selector.h"

namespace kps {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitRefused = 2;

}  // namespace

int run_offsets_command(const Config& config, const OffsetsRequest& request, std::ostream& out, std::ostream& err) {
  // Which topics: a configured topic, every topic a configured topic_pattern matches, or
  // (show without --topic) every topic any sink consumes.
  const TopicSelector selector(config);
  const SinkConfig* pattern_sink = nullptr;
  if (request.topic) {
    for (const SinkConfig& sink : config.sinks) {
      if (!sink.topic_pattern.empty() && sink.topic_pattern == *request.topic) pattern_sink = &sink;
    }
    const bool consumed = pattern_sink != nullptr || selector.wants(*request.topic);
    if (!consumed) {
      err << "no sink in the configuration consumes topic " << *request.topic
          << " (give a topic a sink consumes, or a sink's topic_pattern exactly as configured)\n";
      return kExitRefused;
    }
  }
  // Exactly the topics the daemon consumes: never the dead letter topic a pattern matches.
  const auto wanted = [&](std::string_view topic) {
    if (pattern_sink != nullptr) return sink_matches_topic(*pattern_sink, topic) && selector.wants(topic);
    if (request.topic) return topic == *request.topic;
    return selector.wants(topic);
  };

  std::unique_ptr<KafkaOffsetsAdmin> kafka;
  try {
    kafka = std::make_unique<KafkaOffsetsAdmin>(config.kafka);
  } catch (const std::exception& error) {
    err << error.what() << "\n";
    return kExitRuntimeError;
  }
  auto listed = kafka->list_partitions(wanted);
  if (!listed) {
    err << listed.status().message() << "\n";
    return kExitRuntimeError;
  }
  std::vector<TopicPartition> partitions = std::move(listed.value());
  if (request.partition) {
    std::erase_if(partitions, [&](const TopicPartition& tp) { return tp.partition != *request.partition; });
  }
  if (partitions.empty() && request.topic) {
    err << "topic " << *request.topic << (request.partition ? " has no partition " + std::to_string(*request.partition)
                                                            : std::string(" does not exist (or matches no topic)"))
        << " in Kafka\n";
    return kExitRefused;
  }

  auto database = PgOffsetsTable::open(config);
  if (!database) {
    err << database.status().message() << " (" << redact_dsn(config.postgres.dsn) << ")\n";
    return kExitRuntimeError;
  }
  auto stored = database.value().load();
  if (!stored) {
    err << "cannot read " << quote_qualified_name(config.postgres.offsets_table) << ": " << stored.status().message() << "\n";
    return kExitRuntimeError;
  }
  const std::map<TopicPartition, int64_t> stored_by_partition(stored.value().begin(), stored.value().end());
  auto committed = kafka->committed(partitions);
  if (!committed) {
    err << committed.status().message() << "\n";
    return kExitRuntimeError;
  }
  std::vector<PartitionOffsets> offsets;
  for (size_t index = 0; index < partitions.size(); ++index) {
    PartitionOffsets partition;
    partition.topic_partition = partitions[index];
    if (const auto found = stored_by_partition.find(partitions[index]); found != stored_by_partition.end()) {
      partition.stored = found->second;
    }
    partition.committed = committed.value()[index];
    auto bounds = kafka->bounds(partitions[index]);
    if (!bounds) {
      err << bounds.status().message() << "\n";
      return kExitRuntimeError;
    }
    partition.log_start = bounds.value().log_start;
    partition.high_watermark = bounds.value().high_watermark;
    offsets.push_back(std::move(partition));
  }

  if (request.action == OffsetsRequest::Action::Show) {
    out << render_offsets_table(offsets);
    return kExitOk;
  }

  std::vector<std::optional<int64_t>> by_time;
  if (request.target == ResetTarget::Timestamp) {
    auto looked_up = kafka->offsets_for_time(partitions, request.timestamp_ms);
    if (!looked_up) {
      err << looked_up.status().message() << "\n";
      return kExitRuntimeError;
    }
    by_time = std::move(looked_up.value());
  }
  auto plan = plan_reset(offsets, request, by_time);
  if (!plan) {
    err << plan.status().message() << "\n";
    return kExitRefused;
  }
  out << render_reset_plan(plan.value());
  if (!request.execute) {
    out << "dry run: nothing changed; add --execute to move the stored offsets in "
        << quote_qualified_name(config.postgres.offsets_table) << " and the committed offsets of group "
        << config.kafka.group_id << "\n";
    return kExitOk;
  }
  std::vector<std::pair<TopicPartition, int64_t>> moves;
  for (const PlannedMove& move : plan.value()) moves.emplace_back(move.current.topic_partition, move.new_offset);
  if (Status moved = database.value().move(moves); !moved) {
    err << "nothing changed: moving the stored offsets failed: " << moved.message() << "\n";
    return kExitRuntimeError;
  }
  out << "moved the stored offsets of " << moves.size() << " partition(s) in "
      << quote_qualified_name(config.postgres.offsets_table) << "\n";
  // PostgreSQL holds the truth the daemon resumes from; Kafka's committed offset only feeds
  // lag monitoring. A coordinator refuses a commit from outside while the group has members:
  // then the daemon that owns the partitions commits its new position itself.
  if (Status committed_now = kafka->commit(moves); !committed_now) {
    err << "warning: the committed offsets of group " << config.kafka.group_id
        << " in Kafka were not moved (" << committed_now.message()
        << "); a running daemon commits its new position once it resumes from the stored offsets\n";
  } else {
    out << "moved the committed offsets of group " << config.kafka.group_id << " in Kafka\n";
  }
  return kExitOk;
}

}  // namespace kps
