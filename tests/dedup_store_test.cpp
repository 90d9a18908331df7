#include "connector/dedup_store.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace kps;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kStart = 1'700'000'000;
constexpr char kFingerprint[] = "group=g offsets=kafka_pg_sink_offsets sinks=events:/event_id:24h";

std::string error_of(const Result<std::unique_ptr<DedupStore>>& opened) {
  return opened.is_ok() ? std::string() : opened.status().message();
}

/// A fresh directory under /tmp, removed with everything in it (moved-aside copies too)
/// when the test ends, and a wall clock moved by hand.
class Scratch {
 public:
  Scratch() {
    char pattern[] = "/tmp/kps-dedup-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    root_ = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::string root() const { return root_.string(); }
  std::string state_dir() const { return (root_ / "state").string(); }

  std::function<int64_t()> clock() {
    return [this] { return now_.load(); };
  }
  void set_now(int64_t seconds) { now_ = seconds; }
  void advance(int64_t seconds) { now_ += seconds; }
  int64_t now() const { return now_.load(); }

  std::unique_ptr<DedupStore> open(std::vector<DedupSinkSpec> sinks, DedupOpenReport* report = nullptr,
                                   const std::string& fingerprint = kFingerprint) {
    DedupOpenReport local;
    auto opened = DedupStore::open(state_dir(), fingerprint, std::move(sinks), clock(), report ? report : &local);
    INFO(error_of(opened));
    REQUIRE(opened.is_ok());
    return std::move(opened.value());
  }

 private:
  fs::path root_;
  std::atomic<int64_t> now_{kStart};
};

std::vector<DedupSinkSpec> sinks_ab(std::chrono::seconds ttl = std::chrono::hours(1)) {
  return {{"\"public\".\"a\"", ttl}, {"\"public\".\"b\"", ttl}};
}

DedupUpdate update(size_t sink, std::vector<std::string_view> identities, int64_t applied_at,
                   std::vector<std::pair<TopicPartition, int64_t>> markers = {}) {
  DedupUpdate u;
  u.sink = sink;
  u.identities = std::move(identities);
  u.applied_at_seconds = applied_at;
  u.complete_up_to = std::move(markers);
  return u;
}

void overwrite(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

/// Paths next to the state directory that open() moved it to.
std::vector<fs::path> moved_aside(const Scratch& scratch) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(scratch.root())) {
    if (entry.path().filename().string().starts_with("state.corrupt-")) found.push_back(entry.path());
  }
  return found;
}

constexpr int kChildBatchSize = 100;

std::string child_identity(int batch, int item) { return "b" + std::to_string(batch) + "-" + std::to_string(item); }

}  // namespace

TEST_CASE("dedup store finds recorded identities per sink, each sink on its own") {
  Scratch scratch;
  auto store = scratch.open(sinks_ab());
  REQUIRE(store->record(update(0, {"order-1", "order-2"}, kStart)));
  REQUIRE(store->record(update(1, {"order-3"}, kStart)));

  CHECK(store->contains(0, "order-1"));
  CHECK(store->contains(0, "order-2"));
  CHECK_FALSE(store->contains(0, "order-3"));
  CHECK(store->contains(1, "order-3"));
  CHECK_FALSE(store->contains(1, "order-1"));
  CHECK_FALSE(store->contains(0, "order-99"));
}

TEST_CASE("dedup store forgets an identity once its sink's ttl has passed") {
  Scratch scratch;
  auto store = scratch.open({{"short", std::chrono::seconds(60)}, {"long", std::chrono::seconds(3600)}});
  REQUIRE(store->record(update(0, {"x"}, kStart)));
  REQUIRE(store->record(update(1, {"x"}, kStart)));

  scratch.set_now(kStart + 59);
  CHECK(store->contains(0, "x"));
  scratch.set_now(kStart + 60);
  CHECK_FALSE(store->contains(0, "x"));
  CHECK(store->contains(1, "x"));

  SECTION("and counts the ttl from the latest application") {
    REQUIRE(store->record(update(0, {"x"}, kStart + 60)));
    scratch.set_now(kStart + 119);
    CHECK(store->contains(0, "x"));
  }
}

TEST_CASE("dedup store compaction drops expired identities and frees their space") {
  Scratch scratch;
  auto store = scratch.open({{"events", std::chrono::seconds(60)}});
  std::vector<std::string> old_ids;
  for (int i = 0; i < 20000; ++i) old_ids.push_back("old-identity-with-some-length-" + std::to_string(i));
  std::vector<std::string_view> old_views(old_ids.begin(), old_ids.end());
  REQUIRE(store->record(update(0, old_views, kStart)));
  REQUIRE(store->record(update(0, {"fresh-1", "fresh-2"}, kStart + 100)));
  REQUIRE(store->compact());  // while nothing has expired: everything stays, now on disk
  DedupStats before = store->stats();
  CHECK(before.approximate_keys == 20002);

  scratch.set_now(kStart + 130);  // old ones are 130 s old, fresh ones 30 s
  REQUIRE(store->compact());
  DedupStats after = store->stats();
  CHECK(after.approximate_keys == 2);
  CHECK(after.approximate_bytes < before.approximate_bytes / 10);

  // Back at a time when they were live: only a physical delete explains their absence.
  scratch.set_now(kStart + 1);
  CHECK_FALSE(store->contains(0, old_ids.front()));
  CHECK_FALSE(store->contains(0, old_ids.back()));
  CHECK(store->contains(0, "fresh-1"));
  CHECK(store->contains(0, "fresh-2"));
}

TEST_CASE("dedup store keeps identities and completeness markers across close and reopen") {
  Scratch scratch;
  TopicPartition p0{"events", 0};
  TopicPartition p7{"events", 7};
  {
    auto store = scratch.open(sinks_ab());
    CHECK_FALSE(store->complete_up_to(0, p0).has_value());
    REQUIRE(store->record(update(0, {"e-1"}, kStart, {{p0, 42}, {p7, 1'000'000'000'000}})));
    REQUIRE(store->record(update(0, {"e-2"}, kStart, {{p0, 57}})));
  }
  DedupOpenReport report;
  auto store = scratch.open(sinks_ab(), &report);
  CHECK_FALSE(report.created_new);
  CHECK_FALSE(report.wiped);
  CHECK(report.warning.empty());
  CHECK(store->complete_up_to(0, p0) == 57);
  CHECK(store->complete_up_to(0, p7) == 1'000'000'000'000);
  CHECK_FALSE(store->complete_up_to(1, p0).has_value());  // markers belong to one sink
  CHECK_FALSE(store->complete_up_to(0, TopicPartition{"events", 1}).has_value());
  CHECK_FALSE(store->complete_up_to(0, TopicPartition{"other", 0}).has_value());
  CHECK(store->contains(0, "e-1"));
  CHECK(store->contains(0, "e-2"));
}

// Not run on its own ("[.]"): the test below starts this executable with it and kills it.
TEST_CASE("dedup store writer child records batches until it is killed", "[.]") {
  const char* dir = std::getenv("KPS_DEDUP_CHILD_DIR");
  REQUIRE(dir != nullptr);
  DedupOpenReport report;
  auto opened =
      DedupStore::open(dir, kFingerprint, {{"events", std::chrono::hours(1)}}, [] { return kStart; }, &report);
  REQUIRE(opened.is_ok());
  DedupStore& store = *opened.value();
  std::vector<std::string> identities(kChildBatchSize);
  for (int batch = 0; batch < 1'000'000; ++batch) {
    std::vector<std::string_view> views;
    for (int item = 0; item < kChildBatchSize; ++item) {
      identities[item] = child_identity(batch, item);
      views.push_back(identities[item]);
    }
    REQUIRE(store.record(update(0, views, kStart, {{{"events", 0}, (batch + 1) * kChildBatchSize}})));
    REQUIRE(write(3, "+", 1) == 1);  // tells the parent this batch's record() returned
  }
}

TEST_CASE("dedup store record is atomic and durable when the process is killed mid-stream") {
  Scratch scratch;
  constexpr int kAcknowledgedBatches = 30;
  int progress[2];
  REQUIRE(pipe(progress) == 0);
  std::string env_dir = "KPS_DEDUP_CHILD_DIR=" + scratch.state_dir();
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(progress[1], 3);
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    char* argv[] = {const_cast<char*>("dedup_test"),
                    const_cast<char*>("dedup store writer child records batches until it is killed"), nullptr};
    char* envp[] = {env_dir.data(), nullptr};
    execve("/proc/self/exe", argv, envp);
    _exit(127);
  }
  close(progress[1]);
  int acknowledged = 0;
  char byte;
  while (acknowledged < kAcknowledgedBatches && read(progress[0], &byte, 1) == 1) ++acknowledged;
  kill(child, SIGKILL);
  int wait_status = 0;
  waitpid(child, &wait_status, 0);
  close(progress[0]);
  REQUIRE(acknowledged == kAcknowledgedBatches);
  REQUIRE(WIFSIGNALED(wait_status));

  DedupOpenReport report;
  auto store = scratch.open({{"events", std::chrono::hours(1)}}, &report);
  CHECK_FALSE(report.wiped);
  std::optional<int64_t> marker = store->complete_up_to(0, {"events", 0});
  REQUIRE(marker.has_value());
  REQUIRE(*marker >= kAcknowledgedBatches * kChildBatchSize);  // every acknowledged batch survived
  REQUIRE(*marker % kChildBatchSize == 0);
  const int complete_batches = static_cast<int>(*marker / kChildBatchSize);
  INFO("batches complete after the kill: " << complete_batches);
  // Identities and marker travel together: all identities below the marker, none above.
  int missing_below = 0;
  int present_above = 0;
  for (int batch = 0; batch < complete_batches + 3; ++batch) {
    for (int item = 0; item < kChildBatchSize; ++item) {
      bool found = store->contains(0, child_identity(batch, item));
      if (batch < complete_batches && !found) ++missing_below;
      if (batch >= complete_batches && found) ++present_above;
    }
  }
  CHECK(missing_below == 0);
  CHECK(present_above == 0);
}

TEST_CASE("dedup store rejects an update for a sink it was not opened with and writes none of it") {
  Scratch scratch;
  auto store = scratch.open(sinks_ab());
  Status status = store->record(update(2, {"x"}, kStart, {{{"events", 0}, 10}}));
  REQUIRE_FALSE(status);
  CHECK(status.kind() == ErrorKind::Fatal);
  CHECK_THAT(status.message(), Catch::Contains("sink #2") && Catch::Contains("2 sinks"));
  CHECK_FALSE(store->contains(0, "x"));
  CHECK_FALSE(store->contains(1, "x"));
  CHECK_FALSE(store->complete_up_to(0, {"events", 0}).has_value());
}

TEST_CASE("dedup store wipes a state written by another deployment and warns") {
  Scratch scratch;
  TopicPartition p0{"events", 0};
  {
    auto store = scratch.open(sinks_ab(), nullptr, "deployment-one");
    REQUIRE(store->record(update(0, {"x"}, kStart, {{p0, 10}})));
  }
  DedupOpenReport report;
  auto store = scratch.open(sinks_ab(), &report, "deployment-two");
  CHECK(report.wiped);
  CHECK(report.created_new);
  CHECK_THAT(report.warning, Catch::Contains(scratch.state_dir()) && Catch::Contains("another deployment"));
  CHECK_FALSE(store->contains(0, "x"));
  CHECK_FALSE(store->complete_up_to(0, p0).has_value());
  CHECK(moved_aside(scratch).empty());  // our own worthless state: deleted, not kept

  SECTION("and the new fingerprint is kept for the next start") {
    store.reset();
    DedupOpenReport again;
    scratch.open(sinks_ab(), &again, "deployment-two");
    CHECK_FALSE(again.wiped);
    CHECK(again.warning.empty());
  }
}

TEST_CASE("dedup store moves a corrupt state aside and starts empty with a warning") {
  Scratch scratch;
  TopicPartition p0{"events", 0};
  {
    auto store = scratch.open(sinks_ab());
    REQUIRE(store->record(update(0, {"x"}, kStart, {{p0, 10}})));
    REQUIRE(store->compact());  // puts "x" in an SST file
  }
  const fs::path dir = scratch.state_dir();
  std::string damaged;
  SECTION("CURRENT holds garbage") {
    damaged = "CURRENT";
    overwrite(dir / "CURRENT", "this is not a manifest name\n");
  }
  SECTION("the MANIFEST holds garbage") {
    damaged = "MANIFEST";
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename().string().starts_with("MANIFEST-")) overwrite(entry.path(), std::string(4096, 'z'));
    }
  }
  SECTION("an SST file is cut short") {
    damaged = "SST";
    int cut = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".sst") {
        fs::resize_file(entry.path(), fs::file_size(entry.path()) / 2);
        ++cut;
      }
    }
    REQUIRE(cut > 0);
  }
  SECTION("CURRENT is missing") {
    damaged = "no CURRENT";
    fs::remove(dir / "CURRENT");
  }
  INFO("damage: " << damaged);

  DedupOpenReport report;
  // A trailing slash must not move the directory into itself.
  auto opened = DedupStore::open(scratch.state_dir() + "/", kFingerprint, sinks_ab(), scratch.clock(), &report);
  INFO(error_of(opened));
  REQUIRE(opened.is_ok());
  auto& store = opened.value();
  CHECK(report.wiped);
  CHECK(report.created_new);
  const std::string expected_aside = scratch.state_dir() + ".corrupt-" + std::to_string(kStart);
  CHECK_THAT(report.warning, Catch::Contains(scratch.state_dir()) && Catch::Contains(expected_aside));
  CHECK(moved_aside(scratch) == std::vector<fs::path>{expected_aside});
  CHECK_FALSE(store->contains(0, "x"));
  CHECK_FALSE(store->complete_up_to(0, p0).has_value());
  REQUIRE(store->record(update(0, {"y"}, kStart)));
  CHECK(store->contains(0, "y"));
}

TEST_CASE("dedup store reports a directory it cannot create as a fatal error naming the path") {
  Scratch scratch;
  overwrite(fs::path(scratch.root()) / "a-file", "x");
  const std::string dir = scratch.root() + "/a-file/state";
  DedupOpenReport report;
  auto opened = DedupStore::open(dir, kFingerprint, sinks_ab(), scratch.clock(), &report);
  REQUIRE_FALSE(opened.is_ok());
  CHECK(opened.status().kind() == ErrorKind::Fatal);
  CHECK_THAT(opened.status().message(), Catch::Contains(dir));
}

TEST_CASE("dedup store refuses a state directory another open store holds, and leaves it intact") {
  Scratch scratch;
  auto first = scratch.open(sinks_ab());
  REQUIRE(first->record(update(0, {"x"}, kStart)));
  DedupOpenReport report;
  auto second = DedupStore::open(scratch.state_dir(), kFingerprint, sinks_ab(), scratch.clock(), &report);
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().kind() == ErrorKind::Fatal);
  CHECK_THAT(second.status().message(), Catch::Contains(scratch.state_dir()) && Catch::Contains("in use"));
  CHECK_FALSE(report.wiped);
  CHECK(moved_aside(scratch).empty());
  CHECK(first->contains(0, "x"));
}

TEST_CASE("dedup store opens with a sink added or removed since the last run") {
  Scratch scratch;
  TopicPartition p0{"events", 0};
  {
    auto store = scratch.open({{"a", std::chrono::hours(1)}});
    REQUIRE(store->record(update(0, {"x"}, kStart, {{p0, 10}})));
  }
  {
    DedupOpenReport report;
    auto store = scratch.open({{"a", std::chrono::hours(1)}, {"b", std::chrono::hours(1)}}, &report);
    CHECK_FALSE(report.wiped);
    CHECK(report.warning.empty());
    CHECK(store->contains(0, "x"));
    CHECK(store->complete_up_to(0, p0) == 10);
    CHECK_FALSE(store->contains(1, "x"));
    CHECK_FALSE(store->complete_up_to(1, p0).has_value());
    REQUIRE(store->record(update(1, {"y"}, kStart, {{p0, 20}})));
    CHECK(store->contains(1, "y"));
  }
  {
    DedupOpenReport report;
    auto store = scratch.open({{"b", std::chrono::hours(1)}}, &report);  // "a" removed
    CHECK_FALSE(report.wiped);
    CHECK_THAT(report.warning, Catch::Contains("sink:a"));
    CHECK(store->contains(0, "y"));
    CHECK(store->complete_up_to(0, p0) == 20);
  }
  // "a" comes back empty: it must not inherit completeness from its earlier life.
  auto store = scratch.open({{"b", std::chrono::hours(1)}, {"a", std::chrono::hours(1)}});
  CHECK_FALSE(store->contains(1, "x"));
  CHECK_FALSE(store->complete_up_to(1, p0).has_value());
  CHECK(store->complete_up_to(0, p0) == 20);
}

TEST_CASE("dedup store rejects sink specs whose names are empty or repeated") {
  Scratch scratch;
  DedupOpenReport report;
  std::vector<DedupSinkSpec> twice = {{"a", std::chrono::hours(1)}, {"a", std::chrono::hours(1)}};
  auto repeated = DedupStore::open(scratch.state_dir(), kFingerprint, twice, scratch.clock(), &report);
  REQUIRE_FALSE(repeated.is_ok());
  CHECK_THAT(repeated.status().message(), Catch::Contains("dedup sink #1 ('a')"));
  auto empty =
      DedupStore::open(scratch.state_dir(), kFingerprint, {{"", std::chrono::hours(1)}}, scratch.clock(), &report);
  REQUIRE_FALSE(empty.is_ok());
  CHECK_THAT(empty.status().message(), Catch::Contains("name is empty"));
}

TEST_CASE("dedup store counts hits and misses, expired entries as misses") {
  Scratch scratch;
  auto store = scratch.open({{"events", std::chrono::seconds(60)}});
  DedupOpenReport report;
  REQUIRE(store->record(update(0, {"a", "b"}, kStart)));
  CHECK(store->contains(0, "a"));
  CHECK(store->contains(0, "b"));
  CHECK(store->contains(0, "a"));
  CHECK_FALSE(store->contains(0, "c"));
  scratch.advance(60);
  CHECK_FALSE(store->contains(0, "a"));
  DedupStats stats = store->stats();
  CHECK(stats.hits == 3);
  CHECK(stats.misses == 2);
  CHECK(stats.read_errors == 0);
  CHECK(stats.approximate_keys == 2);
  CHECK(stats.approximate_bytes > 0);
}

TEST_CASE("dedup store answers a lookup it cannot read as unseen and counts a read error") {
  Scratch scratch;
  {
    auto store = scratch.open({{"events", std::chrono::hours(1)}});
    REQUIRE(store->record(update(0, {"x"}, kStart)));
    REQUIRE(store->compact());
  }
  // Damage the first data block only: the file still opens, the lookup's checksum fails.
  int damaged = 0;
  for (const auto& entry : fs::directory_iterator(scratch.state_dir())) {
    if (entry.path().extension() != ".sst") continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(0);
    file << std::string(8, '\xff');
    REQUIRE(file.good());
    ++damaged;
  }
  REQUIRE(damaged > 0);
  DedupOpenReport report;
  auto store = scratch.open({{"events", std::chrono::hours(1)}}, &report);
  REQUIRE_FALSE(report.wiped);
  CHECK_FALSE(store->contains(0, "x"));
  DedupStats stats = store->stats();
  CHECK(stats.read_errors == 1);
  CHECK(stats.misses == 1);
  CHECK(stats.hits == 0);
}

TEST_CASE("dedup store keeps sink indexes aligned with the config when a sink has no dedup") {
  Scratch scratch;
  DedupSinkSpec no_dedup;
  no_dedup.enabled = false;
  // Two sinks without dedup share the empty name: disabled specs are not validated.
  auto store = scratch.open({no_dedup, {"b", std::chrono::hours(1)}, no_dedup});
  REQUIRE(store->record(update(1, {"x"}, kStart, {{{"events", 0}, 5}})));
  CHECK(store->contains(1, "x"));
  CHECK_FALSE(store->contains(0, "x"));
  CHECK(store->complete_up_to(1, {"events", 0}) == 5);
  CHECK_FALSE(store->complete_up_to(0, {"events", 0}).has_value());

  Status status = store->record(update(2, {"x"}, kStart));
  REQUIRE_FALSE(status);
  CHECK(status.kind() == ErrorKind::Fatal);
  CHECK_THAT(status.message(), Catch::Contains("sink #2") && Catch::Contains("no dedup"));
  CHECK(store->stats().hits == 1);
  CHECK(store->stats().misses == 0);  // a disabled sink's lookups are not dedup misses
  REQUIRE(store->compact());
}
