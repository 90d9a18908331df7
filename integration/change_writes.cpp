// kps-change-writes: writes one scripted batch through PgWriter, the way a writer lane does
// (KeyReducer, then PgWriter::write with the partition's stored offset as the expected one), so
// test_change_writes.sh can check what change data capture does in PostgreSQL before a
// Debezium decoder feeds it: unavailable (TOASTed) columns, truncate_first, added columns.
//
//   kps-change-writes DSN ROUTE [--partition N] [--truncate] [--fence] [--lock-timeout-ms N] [--repeat N] ROW...
//
// ROUTE (all on topic "cdc.<table>", tables created with create_table):
//   toast    cdc_toast  (id bigint, a text, b text, n integer), Debezium
//   base     cdc_evolve (id bigint, a text), Debezium
//   evolved  cdc_evolve (id bigint, a text, c integer, d text) adding c and d (added_columns)
// ROW: +V,V,...[/MASK] upserts one value per column (~ is NULL; MASK one 0/1 per column, the
// unavailable mask of a Debezium tuple); -ID is a delete (a Debezium "d", a tombstone's row).
// --truncate opens the batch with a truncate; --fence expects a wrong stored offset, so the
// write is fenced and rolled back; --lock-timeout-ms sets postgres.lock_timeout;
// --repeat N writes the rows N times, as N batches on one connection. Prints "written" (exit 0) or "failed: <status>" (exit 3).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "connector/config.h"
#include "connector/key_reducer.h"
#include "connector/log.h"
#include "connector/pg_writer.h"

namespace {

using namespace kps;

ColumnConfig column(std::string name, ColumnType type, bool nullable) {
  ColumnConfig config;
  config.name = std::move(name);
  config.source = {ColumnSource::Kind::JsonPointer, "/" + config.name};
  config.type = type;
  config.nullable = nullable;
  return config;
}

SinkConfig debezium_route(std::string table, std::vector<ColumnConfig> columns) {
  SinkConfig route;
  route.topic = "cdc." + table;
  route.table = {"public", std::move(table)};
  route.mode = WriteMode::Upsert;
  route.format = RecordFormat::Debezium;
  route.create_table = true;
  route.columns = std::move(columns);
  route.primary_key = {"id"};
  route.primary_key_columns = {0};
  return route;
}

std::vector<SinkConfig> routes() {
  std::vector<SinkConfig> all;
  all.push_back(debezium_route("cdc_toast", {column("id", ColumnType::BigInt, false), column("a", ColumnType::Text, true),
                                             column("b", ColumnType::Text, true), column("n", ColumnType::Integer, true)}));
  all.push_back(debezium_route("cdc_evolve", {column("id", ColumnType::BigInt, false), column("a", ColumnType::Text, true)}));
  SinkConfig evolved = debezium_route("cdc_evolve", {column("id", ColumnType::BigInt, false), column("a", ColumnType::Text, true),
                                                     column("c", ColumnType::Integer, true), column("d", ColumnType::Text, true)});
  evolved.create_table = false;
  evolved.added_columns = {evolved.columns[2], evolved.columns[3]};
  all.push_back(evolved);
  return all;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "kps-change-writes: %s\n", why.c_str());
  std::exit(2);
}

/// Appends the row's tuple: the route's columns, then the mask field.
void append_row(const SinkConfig& route, std::string_view row, CopyBuffer& tuples) {
  const bool is_delete = row[0] == '-';
  std::string values(row.substr(1));
  std::string mask;
  if (const size_t slash = values.find('/'); slash != std::string::npos) {
    mask = values.substr(slash + 1);
    values.resize(slash);
  }
  const std::vector<std::string> fields = split(values, ',');
  if (is_delete ? fields.size() != 1 : fields.size() != route.columns.size()) usage("wrong field count in " + std::string(row));
  tuples.begin_tuple(static_cast<int16_t>(route.columns.size() + 1));
  for (size_t index = 0; index < route.columns.size(); ++index) {
    if (index >= fields.size() || fields[index] == "~") {
      tuples.append_null();
      continue;
    }
    switch (route.columns[index].type) {
      case ColumnType::BigInt: tuples.append_int64(std::stoll(fields[index])); break;
      case ColumnType::Integer: tuples.append_int32(std::stoi(fields[index])); break;
      case ColumnType::Text: tuples.append_bytes(fields[index]); break;
      default: usage("unsupported column type");
    }
  }
  if (mask.empty()) {
    tuples.append_null();
  } else {
    tuples.append_bytes(mask);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("usage: kps-change-writes DSN ROUTE [--partition N] [--truncate] [--fence] ROW...");
  Config config;
  config.postgres.dsn = argv[1];
  config.kafka.group_id = "kps-change-writes";
  config.sinks = routes();
  const std::string route_name = argv[2];
  size_t route_index = 0;
  if (route_name == "toast") {
    route_index = 0;
  } else if (route_name == "base") {
    route_index = 1;
  } else if (route_name == "evolved") {
    route_index = 2;
  } else {
    usage("unknown route " + route_name);
  }
  const SinkConfig& route = config.sinks[route_index];

  TableBatch batch;
  int32_t partition = 0;
  bool fence = false;
  int repeat = 1;
  std::vector<std::string> rows;
  for (int arg = 3; arg < argc; ++arg) {
    const std::string_view text = argv[arg];
    if (text == "--partition" && arg + 1 < argc) {
      partition = std::stoi(argv[++arg]);
    } else if (text == "--truncate") {
      batch.truncate_first = true;
    } else if (text == "--fence") {
      fence = true;
    } else if (text == "--repeat" && arg + 1 < argc) {
      repeat = std::stoi(argv[++arg]);
    } else if (text == "--lock-timeout-ms" && arg + 1 < argc) {
      config.postgres.lock_timeout = std::chrono::milliseconds(std::stoll(argv[++arg]));
    } else if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
      rows.emplace_back(text);
    } else {
      usage("unknown argument " + std::string(text));
    }
  }

  PgWriter writer(config);
  if (Status status = writer.open(); !status) {
    std::printf("failed: %s\n", status.message().c_str());
    return 3;
  }
  const TopicPartition topic_partition{route.topic, partition};
  std::optional<int64_t> stored;
  auto offsets = writer.load_offsets();
  if (!offsets) {
    std::printf("failed: %s\n", offsets.status().message().c_str());
    return 3;
  }
  for (const StoredOffset& offset : offsets.value()) {
    if (offset.topic_partition == topic_partition) stored = offset.next_offset;
  }

  KeyReducer reducer(route);
  for (int write = 0; write < repeat; ++write) {
    // The same rows again, as the next records of the partition, on the same connection.
    batch.tuples.clear();
    batch.rows.clear();
    batch.partitions.clear();
    const int64_t first_offset = stored.value_or(0);
    int64_t next_offset = first_offset;
    for (const std::string& row : rows) {
      const size_t begin = batch.tuples.size();
      append_row(route, row, batch.tuples);
      batch.rows.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(batch.tuples.size() - begin), 0,
                            next_offset++, row[0] == '-'});
    }
    if (next_offset == first_offset) ++next_offset;  // a truncate alone still moves the offset past its event
    batch.partitions.push_back({topic_partition, first_offset, next_offset, std::nullopt});

    const std::vector<ReducedRow>& reduced = reducer.reduce(batch);
    std::optional<int64_t> expected = stored;
    if (fence) expected = stored.value_or(0) + 1000;
    const std::vector<OffsetAdvance> advances = {{topic_partition, expected, next_offset, std::nullopt}};
    const Status status = writer.write(WriteRequest{route_index, batch, reduced, advances, nullptr});
    if (!status) {
      std::printf("failed: %s\n", status.message().c_str());
      return 3;
    }
    stored = next_offset;
  }
  std::printf("written\n");
  return 0;
}
