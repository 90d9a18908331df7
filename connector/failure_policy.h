#pragma once
// What the connector does about a failed step, decided from the error's kind and cause in
// one place (one exhaustive switch), so a new cause cannot be handled in one path and
// forgotten in another.

#include "connector/status.h"

namespace kps {

enum class FailureAction {
  Recover,              // pause, re-read the stored offsets, fetch again from there
  StopAtUndecodable,    // apply and commit what came before the record, then exit 1
  StopAtRefusedRecord,  // PostgreSQL already committed what came before it: commit to Kafka, exit 1
  Stop,                 // fatal: exit 1 without draining
};

FailureAction failure_action(const Status& failure);

/// How a recovery names its cause: the label of kafka_pg_sink_retries_total, the prefix of
/// its log line, and whether it means PostgreSQL cannot be written to (which counts toward
/// retry.give_up_after_ms).
struct RecoveryCause {
  const char* metric_label;
  const char* log_prefix;
  bool database_unavailable;
};

RecoveryCause recovery_cause(const Status& cause);

}  // namespace kps
