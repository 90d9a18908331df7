#include "connector/http_server.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "connector/metrics.h"
#include "tests/test_support.h"

namespace kps {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

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

/// A blocking client connection, the test's own: the server under test is the only HTTP
/// code in the build. Reads give up after `read_timeout` (a test failure, not a hang).
class Client {
 public:
  Client(int port, const std::string& host = "127.0.0.1", milliseconds read_timeout = seconds(3)) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
      throw std::runtime_error("cannot resolve " + host);
    }
    fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool connected = fd_ >= 0 && ::connect(fd_, found->ai_addr, found->ai_addrlen) == 0;
    ::freeaddrinfo(found);
    if (!connected) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port));
    }
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(read_timeout).count();
    const timeval timeout{static_cast<time_t>(micros / 1000000), static_cast<suseconds_t>(micros % 1000000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// False once the server has closed the connection (EPIPE, ECONNRESET) or the send timed out.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t count = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (count <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(count));
    }
    return true;
  }
  /// Everything until the server closes; throws when it has not closed within the read timeout.
  std::string read_to_end() {
    std::string out;
    char buffer[65536];
    for (;;) {
      const ssize_t count = ::recv(fd_, buffer, sizeof buffer, 0);
      if (count == 0) return out;
      if (count < 0) {
        if (errno == ECONNRESET) return out;
        throw std::runtime_error("the server did not close the connection in time; received so far: " + out);
      }
      out.append(buffer, static_cast<size_t>(count));
    }
  }
  /// True when the server has sent something or closed the connection.
  bool readable() {
    pollfd watched{fd_, POLLIN, 0};
    return ::poll(&watched, 1, 0) > 0;
  }
  /// True when the server has closed the connection without sending anything (more).
  bool closed_by_server() {
    if (!readable()) return false;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  }

 private:
  int fd_ = -1;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

Reply parse_reply(const std::string& raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) {
    throw std::runtime_error("not an HTTP/1.1 response: \"" + raw + "\"");
  }
  Reply reply;
  reply.status = std::stoi(raw.substr(9, 3));
  size_t line_start = raw.find("\r\n") + 2;
  while (line_start < head_end) {
    const size_t line_end = raw.find("\r\n", line_start);
    const std::string line = raw.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    line_start = line_end + 2;
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

/// Sends `request` as is and reads the response up to the server's close.
Reply exchange(int port, const std::string& request, const std::string& host = "127.0.0.1") {
  Client client(port, host);
  if (!client.send(request)) throw std::runtime_error("cannot send the request");
  return parse_reply(client.read_to_end());
}

Reply request(int port, const std::string& method, const std::string& path, const std::string& host = "127.0.0.1") {
  return exchange(port, method + " " + path + " HTTP/1.1\r\nHost: kafka-pg-sink\r\nUser-Agent: test\r\n\r\n", host);
}

Reply get(int port, const std::string& path, const std::string& host = "127.0.0.1") {
  return request(port, "GET", path, host);
}

/// This process's resident memory: the server runs inside it.
long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  throw std::runtime_error("no VmRSS in /proc/self/status");
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
  CHECK(reply.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");

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

TEST_CASE("HEAD answers the headers GET would, with no body") {
  MetricsRegistry registry;
  registry.counter("kafka_pg_sink_records_consumed_total", "Records.", {{"topic", "events"}}).inc(7);
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  const Reply head = request(server.port(), "HEAD", "/metrics");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::to_string(registry.render().size()));
  CHECK(head.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  const Reply probe = request(server.port(), "HEAD", "/healthz");
  CHECK(probe.status == 200);
  CHECK(probe.header("content-length") == "3");
  CHECK(probe.body.empty());
}

TEST_CASE("every response closes its connection, so a second pipelined request gets no answer") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  Client client(server.port());
  REQUIRE(client.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\n"));
  const std::string raw = client.read_to_end();
  const Reply reply = parse_reply(raw);
  CHECK(reply.status == 200);
  CHECK(reply.header("connection") == "close");
  CHECK(reply.body == "ok\n");  // one response, then the end of the stream
}

TEST_CASE("methods other than GET and HEAD are refused with 405 and an Allow header") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
      INFO(method << " " << path);
      const Reply reply = request(server.port(), method, path);
      CHECK(reply.status == 405);
      CHECK(reply.header("allow") == "GET, HEAD");
      CHECK(reply.body == std::string("method not allowed: ") + method + " (this server answers GET and HEAD)\n");
    }
  }
  const Reply elsewhere = request(server.port(), "POST", "/admin");
  CHECK(elsewhere.status == 404);
  CHECK(elsewhere.header("allow").empty());
}

TEST_CASE("a request announcing a body is answered before any of it is read: 405 for POST, 413 for GET") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  // Content-Length far beyond what is sent: the answer cannot have waited for the body.
  Reply reply = exchange(server.port(), "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2147483648\r\n\r\nab");
  CHECK(reply.status == 405);
  reply = exchange(server.port(), "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2147483648\r\n\r\nab");
  CHECK(reply.status == 413);
  CHECK(reply.body == "request bodies are refused: GET and HEAD take none\n");
  reply = exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  CHECK(reply.status == 413);
  CHECK(exchange(server.port(), "GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n").status == 200);
}

TEST_CASE("a chunked POST streamed without end is cut off after 1 MiB and none of it is kept in memory") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  const long resident_before = resident_kib();
  Client client(server.port());
  REQUIRE(client.send("POST /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "100000\r\n" + std::string(0x100000, 'x') + "\r\n";  // 1 MiB
  const auto started = steady_clock::now();
  long sent_mib = 0;
  while (sent_mib < 2048 && steady_clock::now() - started < seconds(20) && client.send(chunk)) ++sent_mib;
  const auto cut_after = steady_clock::now() - started;
  INFO("the server took " << sent_mib << " MiB before closing, after "
                          << std::chrono::duration_cast<milliseconds>(cut_after).count() << " ms");
  CHECK(sent_mib < 64);  // 1 MiB dropped by the server, the rest in the two socket buffers
  CHECK(cut_after < seconds(2));
  CHECK(resident_kib() - resident_before < 16 * 1024);
  CHECK(get(server.port(), "/healthz").status == 200);
}

TEST_CASE("an unknown path answers 404 whatever the method, and a malformed request 400") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  CHECK(request(server.port(), "HEAD", "/nothing").status == 404);
  CHECK(request(server.port(), "DELETE", "/metrics/").status == 404);
  const Reply malformed = exchange(server.port(), "GET /metrics\r\n\r\n");
  CHECK(malformed.status == 400);
  CHECK(malformed.body == "malformed request line: expected METHOD TARGET HTTP/1.1\n");
  CHECK(exchange(server.port(), "GET /metrics HTTP/2.0\r\n\r\n").status == 505);
}

TEST_CASE("a request line or head longer than 8 KiB is refused with 414 or 431 and the connection closed") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  const Reply long_line = exchange(server.port(), "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n");
  CHECK(long_line.status == 414);
  CHECK(long_line.body == "request line longer than 8192 bytes\n");
  const Reply long_head =
      exchange(server.port(), "GET /metrics HTTP/1.1\r\nCookie: " + std::string(20000, 'c') + "\r\n\r\n");
  CHECK(long_head.status == 431);
  CHECK(long_head.header("connection") == "close");
  // Just under the limit is still served.
  const std::string padding(8192 - 200, 'p');
  CHECK(exchange(server.port(), "GET /healthz HTTP/1.1\r\nX-Padding: " + padding + "\r\n\r\n").status == 200);
}

TEST_CASE("a client that does not finish its request head within 5 s is answered 408 and closed, trickling or not") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  Client silent(server.port(), "127.0.0.1", seconds(10));
  Client trickling(server.port(), "127.0.0.1", seconds(10));
  const auto started = steady_clock::now();
  REQUIRE(silent.send("GET /metr"));
  // One byte every 200 ms: each read is prompt, only the whole head is late.
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(100, 's');
  for (size_t sent = 0; sent < head.size() && !trickling.readable(); ++sent) {
    if (!trickling.send(head.substr(sent, 1)) || steady_clock::now() - started > seconds(10)) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  const Reply silent_reply = parse_reply(silent.read_to_end());
  const auto silent_closed_after = steady_clock::now() - started;
  CHECK(silent_reply.status == 408);
  CHECK(silent_reply.body == "request head not received within 5000 ms\n");
  CHECK(silent_closed_after >= milliseconds(4500));
  CHECK(silent_closed_after < seconds(8));
  const Reply trickling_reply = parse_reply(trickling.read_to_end());
  CHECK(trickling_reply.status == 408);
  CHECK(steady_clock::now() - started < seconds(11));
}

TEST_CASE("the request head deadline runs on the server's clock: 408 once it has moved 5 s, whatever the real time") {
  MetricsRegistry registry;
  ScriptedCheck check;
  testing::ManualClock clock;
  HttpServer server(registry, check.callback(), check.callback(), clock);
  REQUIRE(server.start("127.0.0.1:0").is_ok());
  const auto started = steady_clock::now();

  Client late(server.port(), "127.0.0.1", seconds(3));
  REQUIRE(late.send("GET /metr"));
  // One thread serves connections in the order they came: once a later connection has its
  // answer, `late` was accepted, and its deadline set, at the clock's time 0.
  REQUIRE(get(server.port(), "/healthz").status == 200);

  clock.advance(milliseconds(4999));
  REQUIRE(late.send("i"));
  REQUIRE(get(server.port(), "/healthz").status == 200);  // `late`'s byte was read before this
  CHECK_FALSE(late.readable());                           // not yet late on the server's clock

  clock.advance(milliseconds(2));
  REQUIRE(late.send("c"));
  const Reply reply = parse_reply(late.read_to_end());
  CHECK(reply.status == 408);
  CHECK(reply.body == "request head not received within 5000 ms\n");
  // Real time played no part: far less than the 5 s the head was given.
  CHECK(steady_clock::now() - started < seconds(3));
}

TEST_CASE("64 clients holding half a request line do not delay /healthz") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<Client>(server.port()));
    REQUIRE(slow.back()->send("GET /heal"));
  }
  for (int probe = 0; probe < 10; ++probe) {
    const auto started = steady_clock::now();
    const Reply reply = get(server.port(), "/healthz");
    const auto took = steady_clock::now() - started;
    INFO("probe " << probe << " took " << std::chrono::duration_cast<milliseconds>(took).count() << " ms");
    CHECK(reply.status == 200);
    CHECK(took < seconds(1));
  }
  for (const auto& client : slow) CHECK_FALSE(client->closed_by_server());  // 64 is within the limit
}

TEST_CASE("past 256 open connections the oldest unfinished one is closed, and probes still answer") {
  MetricsRegistry registry;
  ScriptedCheck check;
  HttpServer server(registry, check.callback(), check.callback());
  REQUIRE(server.start("127.0.0.1:0").is_ok());

  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 300; ++i) {
    idle.push_back(std::make_unique<Client>(server.port()));
    if (i == 0) REQUIRE(idle.back()->send("GET /"));  // the oldest, and not even silent
  }
  const auto started = steady_clock::now();
  const Reply reply = get(server.port(), "/healthz");
  CHECK(reply.status == 200);
  CHECK(steady_clock::now() - started < seconds(1));
  // Made room for: the 45 oldest (300 idle plus the probe, 256 at a time), closed without an answer.
  for (int i = 0; i < 45; ++i) {
    INFO("connection " << i);
    CHECK(idle[i]->read_to_end().empty());
  }
  CHECK_FALSE(idle[299]->closed_by_server());
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
