#include "connector/dedup_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <system_error>

#include "connector/log.h"

namespace kps {
namespace {

namespace fs = std::filesystem;

// On-disk layout. Bump kFormatVersion whenever a key or value layout changes: a state in
// another format is then wiped instead of misread.
//   "sink:<name>" families: identity -> applied_at (int64 Unix seconds, 8 bytes big-endian)
//   "meta" family:          "format" -> kFormatVersion, "fingerprint" -> the deployment's,
//                           marker_key(sink, tp) -> complete_up_to offset (int64, 8 bytes big-endian)
constexpr std::string_view kMetaFamily = "meta";
constexpr std::string_view kSinkFamilyPrefix = "sink:";
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kFingerprintKey = "fingerprint";
// Sink names, topics and the separator can hold no '\0' (validated, or impossible in
// Kafka), so '\0' ends each variable-length part and one sink's markers form one range.
constexpr std::string_view kMarkerTag{"complete_up_to\0", 15};

// Modest memory: a daemon beside its database, not a database itself.
constexpr size_t kSinkWriteBufferBytes = 16u << 20;
constexpr size_t kMetaWriteBufferBytes = 4u << 20;
constexpr size_t kAllMemtablesBytes = 64u << 20;
constexpr size_t kBlockCacheBytes = 32u << 20;
constexpr double kBloomBitsPerKey = 10;
// Files older than the TTL are rewritten through the expiry filter even when no new data
// pushes them into a compaction; the floor keeps tiny TTLs from rewriting files constantly.
constexpr uint64_t kMinPeriodicCompactionSeconds = 3600;

rocksdb::Slice slice_of(std::string_view bytes) { return {bytes.data(), bytes.size()}; }

void put_be64(char* out, int64_t value) {
  auto bits = static_cast<uint64_t>(value);
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(bits & 0xffu);
    bits >>= 8;
  }
}

int64_t get_be64(const char* in) {
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(in[i]);
  return static_cast<int64_t>(bits);
}

/// Decodes a stored 8-byte time or offset; nullopt when the value has another size
/// (a damaged entry, which callers treat as absent).
std::optional<int64_t> decode_be64(const rocksdb::Slice& value) {
  if (value.size() != 8) return std::nullopt;
  return get_be64(value.data());
}

std::string sink_family_name(std::string_view sink_name) {
  return std::string(kSinkFamilyPrefix) + std::string(sink_name);
}

std::string marker_prefix(std::string_view sink_name) {
  std::string prefix(kMarkerTag);
  prefix.append(sink_name);
  prefix.push_back('\0');
  return prefix;
}

void append_marker_key(std::string& key, std::string_view sink_prefix, const TopicPartition& tp) {
  key.assign(sink_prefix);
  key.append(tp.topic);
  key.push_back('\0');
  char partition[8];
  put_be64(partition, tp.partition);
  key.append(partition + 4, 4);
}

/// Deletes every marker of one sink: its identities are gone or were never there, so no
/// partition may claim to be complete for it.
rocksdb::Status delete_markers(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view sink_name) {
  std::string begin = marker_prefix(sink_name);
  std::string end = begin;
  end.back() = '\1';
  rocksdb::WriteOptions sync_write;
  sync_write.sync = true;
  return db.DeleteRange(sync_write, meta, begin, end);
}

const char* code_name(const rocksdb::Status& status) {
  switch (status.code()) {
    case rocksdb::Status::kOk: return "OK";
    case rocksdb::Status::kNotFound: return "NotFound";
    case rocksdb::Status::kCorruption: return "Corruption";
    case rocksdb::Status::kNotSupported: return "NotSupported";
    case rocksdb::Status::kInvalidArgument: return "InvalidArgument";
    case rocksdb::Status::kIOError: return "IOError";
    case rocksdb::Status::kMergeInProgress: return "MergeInProgress";
    case rocksdb::Status::kIncomplete: return "Incomplete";
    case rocksdb::Status::kShutdownInProgress: return "ShutdownInProgress";
    case rocksdb::Status::kTimedOut: return "TimedOut";
    case rocksdb::Status::kAborted: return "Aborted";
    case rocksdb::Status::kBusy: return "Busy";
    case rocksdb::Status::kExpired: return "Expired";
    case rocksdb::Status::kTryAgain: return "TryAgain";
    case rocksdb::Status::kCompactionTooLarge: return "CompactionTooLarge";
    case rocksdb::Status::kColumnFamilyDropped: return "ColumnFamilyDropped";
    case rocksdb::Status::kMaxCode: break;
  }
  return "Unknown";
}

Status to_status(const rocksdb::Status& status, ErrorKind kind, const std::string& what) {
  return Status::error(kind, what + ": " + status.ToString(), code_name(status));
}

/// Another process (or this one) has the state open. Replacing the directory would pull
/// it from under a live owner, so this is the one open failure that must stay an error.
bool is_lock_error(const rocksdb::Status& status) {
  return status.IsIOError() && status.ToString().find("lock") != std::string::npos;
}

/// Drops identities whose TTL has passed. One filter per compaction, with the cutoff taken
/// when the compaction starts: the clock is read once, not once per key.
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  explicit ExpiryFilter(int64_t expired_at_or_before) : expired_at_or_before_(expired_at_or_before) {}

  bool Filter(int /*level*/, const rocksdb::Slice& /*key*/, const rocksdb::Slice& existing_value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    std::optional<int64_t> applied_at = decode_be64(existing_value);
    return !applied_at || *applied_at <= expired_at_or_before_;
  }

  const char* Name() const override { return "kps.ExpiryFilter"; }

 private:
  int64_t expired_at_or_before_;
};

class ExpiryFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  ExpiryFilterFactory(std::function<int64_t()> now_seconds, std::chrono::seconds ttl)
      : now_seconds_(std::move(now_seconds)), ttl_(ttl) {}

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<ExpiryFilter>(now_seconds_() - ttl_.count());
  }

  const char* Name() const override { return "kps.ExpiryFilterFactory"; }

 private:
  std::function<int64_t()> now_seconds_;
  std::chrono::seconds ttl_;
};

Status validate_sinks(const std::vector<DedupSinkSpec>& sinks) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < sinks.size(); ++i) {
    const DedupSinkSpec& sink = sinks[i];
    if (!sink.enabled) continue;
    std::string where = "dedup sink #" + std::to_string(i) + " ('" + sink.name + "')";
    if (sink.name.empty()) return Status::error(ErrorKind::Fatal, where + ": the name is empty");
    if (sink.name.find('\0') != std::string::npos) {
      return Status::error(ErrorKind::Fatal, where + ": the name contains a NUL byte");
    }
    if (!seen.insert(sink.name).second) {
      return Status::error(ErrorKind::Fatal, where + ": the name is used by another dedup sink too");
    }
    if (sink.ttl.count() < 0) return Status::error(ErrorKind::Fatal, where + ": the ttl is negative");
  }
  return Status::ok();
}

/// "/var/lib/x/" and "/var/lib/x" must move aside to the same sibling, not into themselves.
std::string normalize_dir(const std::string& dir) {
  fs::path path = fs::path(dir).lexically_normal();
  if (!path.has_filename() && path.has_parent_path() && path != path.root_path()) path = path.parent_path();
  return path.string();
}

enum class DirContents {
  Empty,       // nothing RocksDB wrote: a new state
  Database,    // has CURRENT: try to open it
  Incomplete,  // RocksDB files without CURRENT: a damaged state
};

DirContents inspect_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "CURRENT", ec)) return DirContents::Database;
  bool rocksdb_files = false;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name == "IDENTITY" || name.starts_with("MANIFEST-") || name.ends_with(".sst") || name.ends_with(".log")) {
      rocksdb_files = true;
    }
  }
  return rocksdb_files ? DirContents::Incomplete : DirContents::Empty;
}

Status create_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec && !fs::is_directory(fs::status(dir, ec)) && !ec) {
    ec = std::make_error_code(std::errc::not_a_directory);  // the path exists as a file
  }
  if (ec) {
    return Status::error(ErrorKind::Fatal,
                         "cannot create the dedup state directory '" + dir + "' (state.dir): " + ec.message());
  }
  return Status::ok();
}

/// Column families found on disk that no configured sink claims, open until dropped.
using StaleFamilies = std::vector<std::pair<std::string, std::unique_ptr<rocksdb::ColumnFamilyHandle>>>;

}  // namespace

struct DedupStore::Impl {
  Impl(std::string state_dir, std::function<int64_t()> now, std::vector<DedupSinkSpec> sink_specs)
      : dir(std::move(state_dir)), now_seconds(std::move(now)), sinks(std::move(sink_specs)) {
    for (const DedupSinkSpec& sink : sinks) marker_prefixes.push_back(marker_prefix(sink.name));
    block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  }

  ~Impl() { close(); }

  rocksdb::BlockBasedTableOptions table_options() const {
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = block_cache;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    // Filters and indexes live in the bounded cache too, so memory stays flat as the state grows.
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    return table;
  }

  rocksdb::ColumnFamilyOptions meta_options() const {
    rocksdb::ColumnFamilyOptions options;
    options.write_buffer_size = kMetaWriteBufferBytes;
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options()));
    return options;
  }

  rocksdb::ColumnFamilyOptions sink_options(const DedupSinkSpec& sink) const {
    rocksdb::ColumnFamilyOptions options;
    options.write_buffer_size = kSinkWriteBufferBytes;
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options()));
    options.compaction_filter_factory = std::make_shared<ExpiryFilterFactory>(now_seconds, sink.ttl);
    options.level_compaction_dynamic_level_bytes = true;
    options.periodic_compaction_seconds =
        std::max<uint64_t>(static_cast<uint64_t>(sink.ttl.count()), kMinPeriodicCompactionSeconds);
    return options;
  }

  static rocksdb::DBOptions db_options() {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.db_write_buffer_size = kAllMemtablesBytes;
    options.keep_log_file_num = 5;
    options.max_log_file_size = 8u << 20;
    return options;
  }

  /// Opens the database in `dir` with every family it already has (RocksDB insists) plus
  /// the missing ones. Families that belong to no enabled sink come back in `stale`,
  /// still open, for the caller to drop. `created_sinks` lists the sinks whose family
  /// did not exist before.
  rocksdb::Status open_db(const std::vector<std::string>& existing_families, StaleFamilies* stale,
                          std::vector<size_t>* created_sinks) {
    // Positions in `descriptors` (and so in the handles Open returns): default, meta, the
    // enabled sinks in spec order, then the stale families.
    constexpr size_t kMetaPosition = 1;
    constexpr size_t kFirstSinkPosition = 2;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, meta_options());
    descriptors.emplace_back(std::string(kMetaFamily), meta_options());
    std::vector<size_t> sink_at_position(kFirstSinkPosition);
    for (size_t i = 0; i < sinks.size(); ++i) {
      if (!sinks[i].enabled) continue;
      sink_at_position.push_back(i);
      std::string name = sink_family_name(sinks[i].name);
      if (std::find(existing_families.begin(), existing_families.end(), name) == existing_families.end()) {
        created_sinks->push_back(i);
      }
      descriptors.emplace_back(std::move(name), sink_options(sinks[i]));
    }
    const size_t first_stale_position = descriptors.size();
    for (const std::string& name : existing_families) {
      bool claimed = std::any_of(descriptors.begin(), descriptors.end(),
                                 [&](const rocksdb::ColumnFamilyDescriptor& d) { return d.name == name; });
      if (!claimed) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }

    std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
    rocksdb::DB* raw_db = nullptr;
    rocksdb::Status status = rocksdb::DB::Open(db_options(), dir, descriptors, &raw_handles, &raw_db);
    if (!status.ok()) return status;
    db.reset(raw_db);
    sink_families.assign(sinks.size(), nullptr);
    for (size_t position = 0; position < raw_handles.size(); ++position) {
      std::unique_ptr<rocksdb::ColumnFamilyHandle> handle(raw_handles[position]);
      if (position >= first_stale_position) {
        stale->emplace_back(descriptors[position].name, std::move(handle));
        continue;
      }
      if (position == kMetaPosition) meta = handle.get();
      if (position >= kFirstSinkPosition) sink_families[sink_at_position[position]] = handle.get();
      handles.push_back(std::move(handle));
    }
    return status;
  }

  /// Writes who owns this state; synced, because a state without it is wiped at next open.
  rocksdb::Status write_identity(const std::string& fingerprint) {
    rocksdb::WriteBatch batch;
    batch.Put(meta, slice_of(kFormatKey), slice_of(kFormatVersion));
    batch.Put(meta, slice_of(kFingerprintKey), fingerprint);
    rocksdb::WriteOptions sync_write;
    sync_write.sync = true;
    return db->Write(sync_write, &batch);
  }

  /// Why this state is not the deployment's own, or empty when it is.
  std::string foreign_reason(const std::string& fingerprint) {
    std::string format;
    std::string stored_fingerprint;
    rocksdb::Status status = db->Get(rocksdb::ReadOptions(), meta, slice_of(kFormatKey), &format);
    if (status.IsNotFound()) return "it has no format marker (an earlier start was interrupted?)";
    if (!status.ok()) return "its format marker is unreadable (" + status.ToString() + ")";
    if (format != kFormatVersion) {
      return "it is in format " + format + ", this build writes format " + std::string(kFormatVersion);
    }
    status = db->Get(rocksdb::ReadOptions(), meta, slice_of(kFingerprintKey), &stored_fingerprint);
    if (!status.ok()) return "its fingerprint is missing or unreadable (" + status.ToString() + ")";
    if (stored_fingerprint != fingerprint) {
      return "it belongs to another deployment (its fingerprint differs: group id, offsets table or dedup "
             "config changed)";
    }
    return {};
  }

  /// Brings an existing state in line with the configured sinks: families of removed
  /// sinks are dropped, and no sink created just now inherits markers of an earlier family
  /// of that name (dropped in a run that crashed before deleting them), which would claim
  /// completeness for identities that are not there.
  Status reconcile_families(const std::vector<size_t>& created_sinks, StaleFamilies& stale, std::string* warning) {
    for (size_t sink : created_sinks) {
      rocksdb::Status deleted = delete_markers(*db, meta, sinks[sink].name);
      if (!deleted.ok()) {
        return to_status(deleted, ErrorKind::Fatal,
                         "cannot reset the dedup markers of sink '" + sinks[sink].name + "' in '" + dir + "'");
      }
    }
    // Markers go before the family, so a crash in between leaves identities without
    // markers (trusted for nothing) rather than markers without identities.
    std::string dropped;
    for (auto& [family_name, handle] : stale) {
      if (family_name.starts_with(kSinkFamilyPrefix)) {
        std::string_view sink_name = std::string_view(family_name).substr(kSinkFamilyPrefix.size());
        rocksdb::Status deleted = delete_markers(*db, meta, sink_name);
        if (!deleted.ok()) {
          return to_status(deleted, ErrorKind::Fatal,
                           "cannot delete the dedup markers of family '" + family_name + "' in '" + dir + "'");
        }
      }
      rocksdb::Status status = db->DropColumnFamily(handle.get());
      if (!status.ok()) {
        return to_status(status, ErrorKind::Fatal,
                         "cannot drop the dedup state of family '" + family_name + "' in '" + dir + "'");
      }
      dropped += (dropped.empty() ? "" : ", ") + family_name;
    }
    stale.clear();
    if (!dropped.empty()) {
      *warning = "dedup state in '" + dir + "': dropped the identities of sinks no longer configured for dedup: ";
      *warning += dropped;
    }
    return Status::ok();
  }

  void close() {
    // Handles before the database: RocksDB requires it.
    sink_families.clear();
    meta = nullptr;
    handles.clear();
    if (db) {
      rocksdb::Status status = db->Close();
      if (!status.ok()) log::warn("closing the dedup state in '", dir, "' failed: ", status.ToString());
      db.reset();
    }
  }

  /// Moves the directory aside (or, failing that, deletes the RocksDB files in it) and
  /// recreates it empty. `destroy_first`: the content is ours and worthless (another
  /// deployment's state), so delete rather than keep a copy around.
  Status replace_dir(bool destroy_first, std::string* what_happened) {
    close();
    auto destroy = [&]() -> bool {
      rocksdb::Options options;
      rocksdb::Status status = rocksdb::DestroyDB(dir, options);
      if (!status.ok()) {
        *what_happened += "; deleting it failed: " + status.ToString();
        return false;
      }
      *what_happened += "; deleted it";
      return true;
    };
    auto move_aside = [&]() -> bool {
      std::string base = dir + ".corrupt-" + std::to_string(now_seconds());
      std::string target = base;
      std::error_code ec;
      for (int attempt = 2; fs::exists(target, ec) && attempt < 100; ++attempt) {
        target = base + "-" + std::to_string(attempt);
      }
      fs::rename(dir, target, ec);
      if (ec) {
        *what_happened += "; moving it to '" + target + "' failed: " + ec.message();
        return false;
      }
      *what_happened += "; moved it to '" + target + "'";
      return true;
    };
    bool replaced = destroy_first ? (destroy() || move_aside()) : (move_aside() || destroy());
    if (!replaced) {
      return Status::error(ErrorKind::Fatal, "cannot replace the dedup state in '" + dir + "': " + *what_happened);
    }
    return create_dir(dir);
  }

  std::string dir;
  std::function<int64_t()> now_seconds;
  std::vector<DedupSinkSpec> sinks;
  std::vector<std::string> marker_prefixes;  // by sink index
  std::shared_ptr<rocksdb::Cache> block_cache;
  // Declared after everything the database's options refer to, and destroyed by close():
  std::unique_ptr<rocksdb::DB> db;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> handles;  // owners; the pointers below borrow
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> sink_families;  // by sink index; nullptr for a disabled sink

  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> read_errors{0};
  std::atomic<bool> read_error_logged{false};
};

DedupStore::DedupStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DedupStore::~DedupStore() = default;

Result<std::unique_ptr<DedupStore>> DedupStore::open(const std::string& dir, const std::string& fingerprint,
                                                     std::vector<DedupSinkSpec> sinks,
                                                     std::function<int64_t()> now_seconds,
                                                     DedupOpenReport* report) {
  DedupOpenReport unused_report;
  DedupOpenReport& out = report != nullptr ? *report : unused_report;
  out = DedupOpenReport{};
  if (!now_seconds) return Status::error(ErrorKind::Fatal, "dedup state: no clock (now_seconds) was given");
  if (Status status = validate_sinks(sinks); !status) return status;
  auto impl = std::make_unique<Impl>(normalize_dir(dir), std::move(now_seconds), std::move(sinks));
  const std::string& path = impl->dir;
  if (Status status = create_dir(path); !status) return status;

  // Decide whether the directory holds this deployment's state before touching it:
  // opening with create_missing_column_families would add our families to anything.
  std::string problem;     // why the directory must be replaced; empty when it need not
  bool destroy_first = false;
  std::vector<std::string> existing_families;
  DirContents contents = inspect_dir(path);
  if (contents == DirContents::Incomplete) {
    problem = "it holds RocksDB files but no CURRENT file";
  } else if (contents == DirContents::Database) {
    rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &existing_families);
    if (!listed.ok()) {
      problem = "RocksDB cannot read it (" + listed.ToString() + ")";
    } else if (std::find(existing_families.begin(), existing_families.end(), kMetaFamily) ==
               existing_families.end()) {
      problem = "it is a RocksDB database without a \"meta\" column family (not a kafka-pg-sink dedup state, "
                "or its MANIFEST is damaged)";
    }
  }

  StaleFamilies stale_families;
  std::vector<size_t> created_sinks;
  if (problem.empty()) {
    rocksdb::Status opened = impl->open_db(existing_families, &stale_families, &created_sinks);
    if (is_lock_error(opened)) {
      return to_status(opened, ErrorKind::Fatal,
                       "the dedup state directory '" + path +
                           "' is in use by another process; every instance needs its own state.dir");
    }
    if (!opened.ok()) {
      problem = "RocksDB cannot open it (" + opened.ToString() + ")";
    } else if (contents == DirContents::Database) {
      problem = impl->foreign_reason(fingerprint);
      destroy_first = !problem.empty();
    }
  }

  if (!problem.empty()) {
    stale_families.clear();
    std::string what_happened = "dedup state in '" + path + "' was discarded because " + problem;
    if (Status status = impl->replace_dir(destroy_first, &what_happened); !status) return status;
    out.wiped = true;
    out.warning = what_happened + "; starting with an empty state: duplicates are caught again once the "
                                  "rebuild from Kafka or new traffic fills it";
    contents = DirContents::Empty;
    existing_families.clear();
    created_sinks.clear();
    rocksdb::Status reopened = impl->open_db(existing_families, &stale_families, &created_sinks);
    if (!reopened.ok()) {
      return to_status(reopened, ErrorKind::Fatal,
                       "cannot open the dedup state in '" + path + "' even after replacing it");
    }
  }

  if (contents == DirContents::Empty) {
    out.created_new = true;
    if (rocksdb::Status written = impl->write_identity(fingerprint); !written.ok()) {
      return to_status(written, ErrorKind::Fatal, "cannot initialise the dedup state in '" + path + "'");
    }
    return std::unique_ptr<DedupStore>(new DedupStore(std::move(impl)));
  }

  if (Status status = impl->reconcile_families(created_sinks, stale_families, &out.warning); !status) return status;
  return std::unique_ptr<DedupStore>(new DedupStore(std::move(impl)));
}

bool DedupStore::contains(size_t sink, std::string_view identity) {
  Impl& state = *impl_;
  rocksdb::ColumnFamilyHandle* family = state.sink_families[sink];
  if (family == nullptr) return false;
  // PinnableSlice: a value from the block cache is read in place, one from the memtable
  // fits the small-string buffer (8 bytes): no allocation either way.
  rocksdb::PinnableSlice value;
  rocksdb::Status status = state.db->Get(rocksdb::ReadOptions(), family, slice_of(identity), &value);
  bool live = false;
  if (status.ok()) {
    std::optional<int64_t> applied_at = decode_be64(value);
    live = applied_at && state.now_seconds() - *applied_at < state.sinks[sink].ttl.count();
  } else if (!status.IsNotFound()) {
    state.read_errors.fetch_add(1, std::memory_order_relaxed);
    if (!state.read_error_logged.exchange(true)) {
      log::warn("dedup state lookup failed in '", state.dir, "' (sink '", state.sinks[sink].name, "'): ",
                status.ToString(), "; such records are written as new (counted in read errors, logged once)");
    }
  }
  (live ? state.hits : state.misses).fetch_add(1, std::memory_order_relaxed);
  return live;
}

Status DedupStore::record(const DedupUpdate& update) {
  Impl& state = *impl_;
  if (update.sink >= state.sinks.size()) {
    return Status::error(ErrorKind::Fatal, "dedup update names sink #" + std::to_string(update.sink) + " but only " +
                                               std::to_string(state.sinks.size()) + " sinks were opened");
  }
  rocksdb::ColumnFamilyHandle* family = state.sink_families[update.sink];
  if (family == nullptr) {
    return Status::error(ErrorKind::Fatal,
                         "dedup update names sink #" + std::to_string(update.sink) + ", which has no dedup");
  }
  char applied_at[8];
  put_be64(applied_at, update.applied_at_seconds);
  rocksdb::WriteBatch batch;
  for (std::string_view identity : update.identities) {
    batch.Put(family, slice_of(identity), rocksdb::Slice(applied_at, sizeof applied_at));
  }
  std::string key;
  char offset[8];
  for (const auto& [tp, next_offset] : update.complete_up_to) {
    append_marker_key(key, state.marker_prefixes[update.sink], tp);
    put_be64(offset, next_offset);
    batch.Put(state.meta, key, rocksdb::Slice(offset, sizeof offset));
  }
  // WAL on, no fsync: a killed process loses nothing, and after a machine crash recovery
  // yields a prefix of the batches; PostgreSQL's offsets then show the gap to rebuild.
  rocksdb::Status status = state.db->Write(rocksdb::WriteOptions(), &batch);
  if (!status.ok()) {
    return to_status(status, ErrorKind::Transient,
                     "cannot record " + std::to_string(update.identities.size()) + " dedup identities of sink '" +
                         state.sinks[update.sink].name + "' in '" + state.dir + "'");
  }
  return Status::ok();
}

std::optional<int64_t> DedupStore::complete_up_to(size_t sink, const TopicPartition& tp) const {
  const Impl& state = *impl_;
  if (sink >= state.sinks.size() || state.sink_families[sink] == nullptr) return std::nullopt;
  std::string key;
  append_marker_key(key, state.marker_prefixes[sink], tp);
  rocksdb::PinnableSlice value;
  rocksdb::Status status = state.db->Get(rocksdb::ReadOptions(), state.meta, key, &value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) {
    log::warn("dedup state: cannot read the marker of sink '", state.sinks[sink].name, "' topic=", tp.topic,
              " partition=", tp.partition, " in '", state.dir, "': ", status.ToString(),
              "; treating the partition as never recorded");
    return std::nullopt;
  }
  return decode_be64(value);
}

DedupStats DedupStore::stats() const {
  const Impl& state = *impl_;
  DedupStats result;
  for (rocksdb::ColumnFamilyHandle* family : state.sink_families) {
    if (family == nullptr) continue;
    uint64_t value = 0;
    if (state.db->GetIntProperty(family, rocksdb::DB::Properties::kEstimateNumKeys, &value)) {
      result.approximate_keys += value;
    }
    if (state.db->GetIntProperty(family, rocksdb::DB::Properties::kLiveSstFilesSize, &value)) {
      result.approximate_bytes += value;
    }
    if (state.db->GetIntProperty(family, rocksdb::DB::Properties::kCurSizeAllMemTables, &value)) {
      result.approximate_bytes += value;
    }
  }
  result.hits = state.hits.load(std::memory_order_relaxed);
  result.misses = state.misses.load(std::memory_order_relaxed);
  result.read_errors = state.read_errors.load(std::memory_order_relaxed);
  return result;
}

Status DedupStore::compact() {
  Impl& state = *impl_;
  rocksdb::CompactRangeOptions options;
  // Rewrite the last level too, even when it is a single file: that is where old
  // identities sit, and only a rewrite runs them through the expiry filter.
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (size_t i = 0; i < state.sink_families.size(); ++i) {
    if (state.sink_families[i] == nullptr) continue;
    rocksdb::Status status = state.db->CompactRange(options, state.sink_families[i], nullptr, nullptr);
    if (!status.ok()) {
      return to_status(status, ErrorKind::Transient,
                       "cannot compact the dedup state of sink '" + state.sinks[i].name + "' in '" + state.dir + "'");
    }
  }
  return Status::ok();
}

std::string rocksdb_version() {
  return std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH);
}

}  // namespace kps
