#pragma once
// The thin loop that drives the pipeline from the consumer: poll one record, hand it
// to the pipeline, flush what is due, commit to Kafka what PostgreSQL made durable.
// Decisions (stop on a bad record, stop on a fatal error, drain on a signal) are
// taken and logged here, once.

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "connector/catch_up.h"
#include "connector/clock.h"
#include "connector/config.h"
#include "connector/kafka_consumer.h"
#include "connector/status.h"

namespace kps {

class Pipeline;
class PgWriter;

struct RunOptions {
  bool until_caught_up = false;
};

class Connector final : public RebalanceListener {
 public:
  /// `config` and `stop_requested` must outlive the connector; a signal handler sets
  /// `stop_requested` to begin a drain.
  Connector(const Config& config, RunOptions options, const std::atomic<bool>& stop_requested);
  ~Connector() override;

  /// Runs until a requested stop, the catch-up finish line, or a failure. Ok means a
  /// clean stop: everything consumed was written and committed.
  Status run();

  Result<std::vector<std::optional<int64_t>>> on_partitions_assigned(
      std::span<const TopicPartition> partitions) override;
  void on_partitions_revoked(std::span<const TopicPartition> partitions) override;

 private:
  Status start_catch_up();
  Status poll_once();
  Status commit_durable_offsets(bool synchronous);
  void refresh_catch_up_from_database();
  void log_progress(bool final_line);
  Status drain();

  const Config& config_;
  const RunOptions options_;
  const std::atomic<bool>& stop_requested_;
  SteadyClock clock_;
  std::unique_ptr<PgWriter> writer_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::optional<CatchUpTracker> catch_up_;
  Status failure_;  // set inside rebalance callbacks, acted on by the loop
  Clock::time_point started_at_;
  Clock::time_point next_progress_at_;
  Clock::time_point next_database_check_at_;
  uint64_t rows_at_last_progress_ = 0;
  Clock::time_point last_progress_at_;
};

}  // namespace kps
