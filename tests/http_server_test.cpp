#include "connector/http_server.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

#include <httplib.h>

#include "connector/metrics.h"
#include "tests/test_support.h"

namespace kps {
namespace {

/// A probe answer the test flips while the server runs.
class ScriptedCheck {
 public:
  void set(HealthReport report) {
    const std::lock_guard lock(mutex_);
    report_ = std::move(report);
  }
  HealthCheck callback() {
    return [this] {
      const std::lock_guard lock(mutex_);
      return report_;
    };
  }

 private:
  std::mutex mutex_;
  HealthReport report_ = HealthReport::healthy();
};

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

Reply get(int port, const std::string& path, const std::string& host = "127.0.0.1") {
  httplib::Client client(host, port);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(2));
  const httplib::Result result = client.Get(path);
  if (!result) throw std::runtime_error("GET " + path + " failed: " + httplib::to_string(result.error()));
  return {result->status, result->body, result->get_header_value("Content-Type")};
}

bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return bound;
}

}  // namespace

TEST_CASE("GET /metrics serves the registry in Prometheus text format") {
  MetricsRegistry registry;
  registry.counter("kafka_pg_sink_records_consumed_total", "Records.", {{"topic", "events"}}).inc(42);
  ScriptedCheck alive;
  ScriptedCheck ready;
  HttpServer server(registry, alive.callback(), ready.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());
  REQUIRE(server.port() > 0);

  const Reply reply = get(server.port(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body == registry.render());
  CHECK(reply.body.find("kafka_pg_sink_records_consumed_total{topic=\"events\"} 42\n") != std::string::npos);
  CHECK(reply.content_type == "text/plain; version=0.0.4; charset=utf-8");

  registry.counter("kafka_pg_sink_records_consumed_total", "Records.", {{"topic", "events"}}).inc();
  CHECK(get(server.port(), "/metrics").body.find("{topic=\"events\"} 43\n") != std::string::npos);
}

TEST_CASE("GET /healthz answers 200 while the liveness check passes and 503 with its reason otherwise") {
  MetricsRegistry registry;
  ScriptedCheck alive;
  ScriptedCheck ready;
  HttpServer server(registry, alive.callback(), ready.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  Reply reply = get(server.port(), "/healthz");
  CHECK(reply.status == 200);
  CHECK(reply.body == "ok\n");

  alive.set(HealthReport::unhealthy("main loop has not ticked for 90000 ms"));
  reply = get(server.port(), "/healthz");
  CHECK(reply.status == 503);
  CHECK(reply.body == "main loop has not ticked for 90000 ms\n");
  CHECK(get(server.port(), "/readyz").status == 200);  // the checks are independent
}

TEST_CASE("GET /readyz answers 200 while the readiness check passes and 503 with its reason otherwise") {
  MetricsRegistry registry;
  ScriptedCheck alive;
  ScriptedCheck ready;
  ready.set(HealthReport::unhealthy("not connected to PostgreSQL"));
  HttpServer server(registry, alive.callback(), ready.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  Reply reply = get(server.port(), "/readyz");
  CHECK(reply.status == 503);
  CHECK(reply.body == "not connected to PostgreSQL\n");
  CHECK(get(server.port(), "/healthz").status == 200);

  ready.set(HealthReport::healthy());
  reply = get(server.port(), "/readyz");
  CHECK(reply.status == 200);
  CHECK(reply.body == "ok\n");
}

TEST_CASE("an unknown path answers 404 naming the paths that exist") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  const Reply reply = get(server.port(), "/metrics/extra");
  CHECK(reply.status == 404);
  CHECK(reply.body == "not found: /metrics/extra (this server has /metrics, /healthz and /readyz)\n");
  CHECK(get(server.port(), "/").status == 404);
}

TEST_CASE("a check that throws answers 500 with the exception's message and the server keeps serving") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, [] () -> HealthReport { throw std::runtime_error("state unavailable"); },
                    check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  const Reply reply = get(server.port(), "/healthz");
  CHECK(reply.status == 500);
  CHECK(reply.body == "internal error serving /healthz: state unavailable\n");
  CHECK(get(server.port(), "/readyz").status == 200);
}

TEST_CASE("a second server on a port already in use fails with a Fatal error naming the address") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer first(registry, check.callback(), check.callback());
  REQUIRE(first.start("127.0.0.1:0").is_ok());
  const std::string address = "127.0.0.1:" + std::to_string(first.port());

  HttpServer second(registry, check.callback(), check.callback());
  const Status status = second.start(address);
  REQUIRE_FALSE(status.is_ok());
  CHECK(status.kind() == ErrorKind::Fatal);
  CHECK(status.message() == "cannot serve HTTP on " + address + " (http.listen): Address already in use");
  CHECK_FALSE(second.running());
  CHECK(get(first.port(), "/healthz").status == 200);  // the first one is undisturbed
}

TEST_CASE("starting a running server again fails and leaves it serving") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());
  const int port = server.port();

  const Status status = server.start("127.0.0.1:0");
  REQUIRE_FALSE(status.is_ok());
  CHECK(status.kind() == ErrorKind::Fatal);
  CHECK(status.message().find("already listens on 127.0.0.1:0") != std::string::npos);
  CHECK(server.port() == port);
  CHECK(get(port, "/healthz").status == 200);
}

TEST_CASE("a malformed or unresolvable listen address is a Fatal error naming http.listen") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());

  for (const char* listen : {"8080", ":8080", "0.0.0.0:", "0.0.0.0:http", "0.0.0.0:70000", "::1:8080", "[::1:8080"}) {
    INFO(listen);
    const Status status = server.start(listen);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.kind() == ErrorKind::Fatal);
    CHECK(status.message() == std::string("http.listen: expected host:port (like 0.0.0.0:8080 or [::]:8080), found \"") +
                                  listen + "\"");
  }
  const Status unresolvable = server.start("no-such-host.invalid:8080");
  REQUIRE_FALSE(unresolvable.is_ok());
  CHECK(unresolvable.kind() == ErrorKind::Fatal);
  CHECK(unresolvable.message().starts_with(
      "cannot serve HTTP on no-such-host.invalid:8080 (http.listen): cannot resolve host \"no-such-host.invalid\": "));
  CHECK_FALSE(server.running());
}

TEST_CASE("stop ends serving promptly, frees the port, and the server can start again") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());
  const int port = server.port();
  REQUIRE(get(port, "/healthz").status == 200);

  const auto before_stop = std::chrono::steady_clock::now();
  server.stop();
  CHECK(std::chrono::steady_clock::now() - before_stop < std::chrono::seconds(1));
  CHECK_FALSE(server.running());
  CHECK_THROWS(get(port, "/healthz"));
  server.stop();  // idempotent

  const std::string address = "127.0.0.1:" + std::to_string(port);
  REQUIRE(server.start(address).is_ok());
  CHECK(server.running());
  CHECK(get(port, "/healthz").status == 200);
}

TEST_CASE("stop right after start does not hang") {
  MetricsRegistry registry;
  ScriptedCheck check;
  for (int i = 0; i < 20; ++i) {
    HttpServer server(registry, check.callback(), check.callback());
    REQUIRE(server.start("127.0.0.1:0").is_ok());
    server.stop();
    CHECK_FALSE(server.running());
  }
}

TEST_CASE("the server listens on a bracketed IPv6 address") {
  if (!ipv6_loopback_available()) {
    WARN("no IPv6 loopback on this machine: the IPv6 listen address is not tested");
    return;
  }
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("[::1]:0").is_ok());

  CHECK(get(server.port(), "/healthz", "::1").status == 200);
}

TEST_CASE("the heartbeat is healthy until the main loop has been silent longer than the limit") {
  testing::ManualClock clock;
  Heartbeat heartbeat(clock, std::chrono::milliseconds(30000));
  CHECK(heartbeat.check().ok);  // starting up counts as a beat

  clock.advance(std::chrono::milliseconds(30000));
  CHECK(heartbeat.check().ok);
  clock.advance(std::chrono::milliseconds(1));
  const HealthReport stuck = heartbeat.check();
  CHECK_FALSE(stuck.ok);
  CHECK(stuck.reason == "main loop has not ticked for 30001 ms (limit 30000 ms): it is stuck");

  heartbeat.beat();
  CHECK(heartbeat.check().ok);
}

}  // namespace kps
