#pragma once
// RocksDB adapter for the dedup state (identities of applied records, with a TTL).
// dedup_store.cpp is the only file that includes RocksDB.

#include <string>

namespace kps {

/// RocksDB's version, for --version.
std::string rocksdb_version();

}  // namespace kps
