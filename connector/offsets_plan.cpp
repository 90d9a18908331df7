#include "connector/offsets_plan.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "connector/value_text.h"

namespace kps {
namespace {

constexpr int64_t kUnixEpochToPostgresEpochMillis = 946684800000;

Status usage(std::string message) { return Status::error(ErrorKind::Fatal, std::move(message)); }

std::optional<int64_t> parse_whole_number(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string or_dash(const std::optional<int64_t>& value) { return value ? std::to_string(*value) : "-"; }

/// Left-aligned columns, two spaces apart.
std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t column = 0; column < row.size(); ++column) widths[column] = std::max(widths[column], row[column].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t column = 0; column < row.size(); ++column) {
      line += row[column];
      if (column + 1 < row.size()) line += std::string(widths[column] - row[column].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::vector<std::string> offsets_cells(const PartitionOffsets& partition) {
  return {partition.topic_partition.topic, std::to_string(partition.topic_partition.partition),
          or_dash(partition.stored), or_dash(partition.committed), std::to_string(partition.log_start),
          std::to_string(partition.high_watermark)};
}

std::string where(const TopicPartition& tp) {
  return "topic=" + tp.topic + " partition=" + std::to_string(tp.partition);
}

}  // namespace

int64_t PartitionOffsets::lag() const {
  const int64_t position = stored.value_or(committed.value_or(log_start));
  return std::max<int64_t>(0, high_watermark - position);
}

std::optional<int64_t> parse_reset_timestamp(std::string_view text) {
  if (const auto millis = parse_whole_number(text)) return *millis;
  TimestampText parsed;
  if (parse_timestamp(text, parsed) || !parsed.offset_seconds) return std::nullopt;
  const int64_t utc_micros = parsed.local_micros - static_cast<int64_t>(*parsed.offset_seconds) * 1000000;
  // Floor division: an instant before 2000 with a fraction still rounds towards the past.
  const int64_t millis = utc_micros >= 0 ? utc_micros / 1000 : -((-utc_micros + 999) / 1000);
  return millis + kUnixEpochToPostgresEpochMillis;
}

Result<OffsetsRequest> parse_offsets_arguments(std::span<const std::string_view> arguments) {
  OffsetsRequest request;
  if (arguments.empty()) return usage("offsets needs an action: show or reset");
  if (arguments[0] == "show") {
    request.action = OffsetsRequest::Action::Show;
  } else if (arguments[0] == "reset") {
    request.action = OffsetsRequest::Action::Reset;
  } else {
    return usage("unknown offsets action: " + std::string(arguments[0]) + " (show or reset)");
  }
  const bool reset = request.action == OffsetsRequest::Action::Reset;
  int targets = 0;
  for (size_t index = 1; index < arguments.size(); ++index) {
    const std::string_view argument = arguments[index];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (index + 1 >= arguments.size()) return std::nullopt;
      return arguments[++index];
    };
    if (argument == "--topic") {
      const auto topic = value();
      if (!topic || topic->empty()) return usage("--topic needs a topic name");
      request.topic = std::string(*topic);
    } else if (reset && argument == "--partition") {
      const auto text = value();
      const auto number = text ? parse_whole_number(*text) : std::nullopt;
      if (!number || *number < 0 || *number > INT32_MAX) return usage("--partition needs a partition number (0 or more)");
      request.partition = static_cast<int32_t>(*number);
    } else if (reset && argument == "--to-earliest") {
      request.target = ResetTarget::Earliest;
      ++targets;
    } else if (reset && argument == "--to-latest") {
      request.target = ResetTarget::Latest;
      ++targets;
    } else if (reset && argument == "--to-offset") {
      const auto text = value();
      const auto number = text ? parse_whole_number(*text) : std::nullopt;
      if (!number || *number < 0) return usage("--to-offset needs an offset (0 or more)");
      request.target = ResetTarget::Offset;
      request.offset = *number;
      ++targets;
    } else if (reset && argument == "--to-timestamp") {
      const auto text = value();
      const auto millis = text ? parse_reset_timestamp(*text) : std::nullopt;
      if (!millis) {
        return usage("--to-timestamp needs an ISO 8601 time with a zone (2026-01-01T00:00:00Z) or Unix epoch milliseconds");
      }
      request.target = ResetTarget::Timestamp;
      request.timestamp_ms = *millis;
      ++targets;
    } else if (reset && argument == "--execute") {
      request.execute = true;
    } else {
      return usage("unknown argument for offsets " + std::string(arguments[0]) + ": " + std::string(argument));
    }
  }
  if (reset && !request.topic) return usage("offsets reset needs --topic");
  if (reset && targets != 1) {
    return usage("offsets reset needs exactly one of --to-earliest, --to-latest, --to-offset N, --to-timestamp TIME");
  }
  return request;
}

Result<std::vector<PlannedMove>> plan_reset(std::span<const PartitionOffsets> partitions, const OffsetsRequest& request,
                                            std::span<const std::optional<int64_t>> offsets_by_time) {
  std::vector<PlannedMove> moves;
  std::string refused;
  for (size_t index = 0; index < partitions.size(); ++index) {
    const PartitionOffsets& partition = partitions[index];
    int64_t target = 0;
    switch (request.target) {
      case ResetTarget::Earliest: target = partition.log_start; break;
      case ResetTarget::Latest: target = partition.high_watermark; break;
      case ResetTarget::Offset: target = request.offset; break;
      case ResetTarget::Timestamp:
        target = index < offsets_by_time.size() && offsets_by_time[index] ? *offsets_by_time[index]
                                                                           : partition.high_watermark;
        break;
    }
    if (target < partition.log_start || target > partition.high_watermark) {
      refused += "\n  " + where(partition.topic_partition) + ": offset " + std::to_string(target) +
                 " is outside the log, which holds offsets " + std::to_string(partition.log_start) + " up to " +
                 std::to_string(partition.high_watermark) + " (the high watermark: the next record's offset)";
      continue;
    }
    moves.push_back({partition, target});
  }
  if (!refused.empty()) return Status::error(ErrorKind::Fatal, "reset refused, nothing changed:" + refused);
  return moves;
}

std::string render_offsets_table(std::span<const PartitionOffsets> partitions) {
  std::vector<std::vector<std::string>> rows = {
      {"TOPIC", "PARTITION", "STORED", "COMMITTED", "LOG-START", "HIGH-WATERMARK", "LAG"}};
  for (const PartitionOffsets& partition : partitions) {
    rows.push_back(offsets_cells(partition));
    rows.back().push_back(std::to_string(partition.lag()));
  }
  return render_table(rows);
}

std::string render_reset_plan(std::span<const PlannedMove> moves) {
  std::vector<std::vector<std::string>> rows = {
      {"TOPIC", "PARTITION", "STORED", "COMMITTED", "LOG-START", "HIGH-WATERMARK", "NEW-OFFSET"}};
  for (const PlannedMove& move : moves) {
    rows.push_back(offsets_cells(move.current));
    rows.back().push_back(std::to_string(move.new_offset));
  }
  return render_table(rows);
}

}  // namespace kps
