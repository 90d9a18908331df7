#pragma once
// The daemon's HTTP endpoint: GET /metrics (Prometheus text format 0.0.4), GET /healthz
// (liveness: the main loop is ticking) and GET /readyz (readiness: connected to PostgreSQL
// and in the consumer group). Served by a background thread so that a scrape or a probe
// never waits on the polling loop, and the loop never waits on them.
//
// The port is reachable by anything in the cluster, so the server is built to be hostile-
// client-proof rather than general: one thread running a poll() loop over non-blocking
// sockets (no thread per connection that a slow client could hold); GET and HEAD only, on
// those three paths (another method: 405 with Allow; another path: 404); no request body is
// ever read (413); the request head must fit in 8 KiB (414, 431) and arrive within 5 s of
// the connection (408); every response closes its connection; at most 256 connections, the
// oldest unfinished one closed when another arrives.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "connector/clock.h"
#include "connector/status.h"

namespace kps {

class MetricsRegistry;

/// What a probe answers: 200 "ok", or 503 with `reason` as the body.
struct HealthReport {
  bool ok = false;
  std::string reason;  // why not, when !ok: "not connected to PostgreSQL", ...

  static HealthReport healthy() { return {true, {}}; }
  static HealthReport unhealthy(std::string why) { return {false, std::move(why)}; }
};

/// Runs on the server's thread, concurrently with the main loop: must be thread-safe
/// (read atomics) and quick (no I/O). Liveness: the main loop is ticking (see Heartbeat).
/// Readiness: connected to PostgreSQL and a member of the consumer group.
using HealthCheck = std::function<HealthReport()>;

/// Liveness from the main loop's ticks: the loop calls beat() on every iteration, /healthz
/// calls check(). Construction counts as the first beat, so start-up is alive until
/// `max_silence` passes. Thread-safe: one thread beats, any thread checks.
class Heartbeat {
 public:
  /// `clock` must outlive the heartbeat. `max_silence` should exceed the longest the loop
  /// legitimately blocks (a poll, a batch flush, a reconnect attempt).
  Heartbeat(const Clock& clock, std::chrono::milliseconds max_silence);

  void beat() { last_beat_.store(clock_.now().time_since_epoch().count(), std::memory_order_relaxed); }
  /// Healthy while the last beat is at most `max_silence` old; otherwise names how long
  /// the loop has been silent.
  HealthReport check() const;

 private:
  const Clock& clock_;
  const std::chrono::milliseconds max_silence_;
  std::atomic<Clock::time_point::rep> last_beat_;
};

/// Serves the registry and the probes on one listen address. Not copyable; stop() or the
/// destructor ends the thread. start(), stop() and running() belong to one controlling
/// thread (the one that owns the server).
class HttpServer {
 public:
  /// `registry` must outlive the server. The checks are called for each probe request.
  /// `clock` (which must outlive the server, and be safe to read from its thread) measures
  /// every connection's deadlines.
  HttpServer(const MetricsRegistry& registry, HealthCheck liveness, HealthCheck readiness,
             const Clock& clock = steady_clock());
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds `listen` ("host:port", IPv6 as "[::1]:port"; port 0 picks a free port, see
  /// port()) and starts serving on a background thread. Returns once the server accepts
  /// connections. A malformed address, a host that does not resolve, a port in use or not
  /// permitted: a Fatal status naming the address; nothing keeps running. Calling start()
  /// on a running server is a Fatal error too.
  Status start(std::string_view listen);
  /// Stops accepting, closes every connection (a response still being sent is cut off) and
  /// joins the thread. Idempotent. Prompt: the thread never blocks on a connection.
  void stop();

  bool running() const;
  /// The port bound by the last successful start(); 0 before.
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace kps
