#include "connector/dedup_store.h"

#include <rocksdb/version.h>

namespace kps {

std::string rocksdb_version() {
  return std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH);
}

}  // namespace kps
