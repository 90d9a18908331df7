#include "connector/version.h"

#include "connector/decoder.h"
#include "connector/dedup_store.h"
#include "connector/kafka_consumer.h"
#include "connector/pg_connection.h"

namespace kps {

std::string version_report() {
  return std::string("kafka-pg-sink ") + KPS_VERSION + "\n" +
         "librdkafka " + librdkafka_version() + "\n" +
         "libpq " + libpq_version() + "\n" +
         "simdjson " + simdjson_version() + "\n" +
         "RocksDB " + rocksdb_version() + "\n";
}

}  // namespace kps
