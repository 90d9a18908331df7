#pragma once
// `kafka-pg-sink --config PATH offsets show|reset …`: the stored offsets from the command line.
// Kafka's own tools cannot move what the daemon resumes from (PostgreSQL holds it), so this
// subcommand does: it reads the stored offset, the group's committed offset and the log's
// bounds of each partition, plans a reset (offsets_plan.h), and applies it only with
// --execute, through the adapters pg_offsets_table and kafka_offsets_admin.

#include <iosfwd>

#include "connector/config.h"
#include "connector/offsets_plan.h"

namespace kps {

/// Runs the subcommand against the configured Kafka cluster and PostgreSQL. Prints to `out`
/// (the tables, the outcome) and `err` (why not). Returns the exit code: 0 done, 2 a request
/// that is refused (unknown topic or partition, an offset outside the log), 1 a runtime failure.
int run_offsets_command(const Config& config, const OffsetsRequest& request, std::ostream& out, std::ostream& err);

}  // namespace kps
