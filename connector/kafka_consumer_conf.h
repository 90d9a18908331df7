#pragma once
// librdkafka adapter: the one place that turns KafkaConfig into the configuration of a
// consumer handle, for each kind of consumer the daemon opens. What exactly-once depends on
// (no auto commit, no auto offset store, partition ends reported, the configured cluster and
// group) is set here, after kafka.properties, so no role can miss it. Included by the
// librdkafka adapters only (it carries librdkafka's types).

#include <vector>

#include "connector/config.h"
#include "connector/kafka_handles.h"
#include "connector/status.h"

namespace kps {

/// Which consumer the configuration is for; each differs from the others only in what its
/// comment says.
enum class ConsumerRole {
  /// The consumer group member that feeds the pipeline (KafkaConsumer): client.id
  /// "kafka-pg-sink", auto.offset.reset "earliest" unless kafka.properties says otherwise,
  /// and fetch queues sized for a backfill; librdkafka's log at every level.
  GroupMember,
  /// The short-lived reader of offset ranges (RangeReader): never joins or commits, under
  /// group id "<group.id>.dedup-rebuild"; client.id "kafka-pg-sink-range-reader"; always
  /// auto.offset.reset "earliest", so a range that starts before the log does is read from
  /// the log's start; librdkafka's log at every level.
  RangeReader,
  /// The `offsets` subcommand's client (KafkaOffsetsAdmin): the group's own id, never
  /// joins; client.id "kafka-pg-sink-offsets"; always auto.offset.reset "earliest"; only
  /// librdkafka's errors are logged (as warnings), the command's output stays readable.
  OffsetsAdmin,
};

/// A consumer configuration for `role`: the role's defaults, then kafka.properties (a
/// property the daemon sets itself is refused), then what exactly-once depends on. A Fatal
/// status names the first property librdkafka rejects, with librdkafka's reason unless the
/// property's name suggests a secret. The caller adds its callbacks, then hands the result
/// to rd_kafka_new().
Result<rdkafka::Conf> make_consumer_conf(const KafkaConfig& config, ConsumerRole role);

}  // namespace kps
