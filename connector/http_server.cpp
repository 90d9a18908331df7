#include "connector/http_server.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <httplib.h>

#include "connector/metrics.h"

namespace kps {
namespace {

constexpr const char* kTextPlain = "text/plain; charset=utf-8";
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

// Probes and scrapes are rare and small: two workers keep /healthz answering while a
// /metrics render runs, without httplib's default of one thread per core (at least 8).
constexpr size_t kWorkerThreads = 2;
// Every connection serves one request and closes: stop() then never waits on an idle
// keep-alive connection, only on a request in flight, each bounded by these timeouts.
constexpr size_t kRequestsPerConnection = 1;
constexpr time_t kRequestArrivalTimeoutSeconds = 2;
constexpr time_t kReadWriteTimeoutSeconds = 5;

struct ListenAddress {
  std::string host;  // IPv6 without brackets
  int port = 0;
};

std::optional<ListenAddress> parse_listen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // an IPv6 address needs brackets, or its last group reads as the port
  }
  const std::string_view port_text = listen.substr(colon + 1);
  int port = -1;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  constexpr int kMaxPort = 65535;
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > kMaxPort) {
    return std::nullopt;
  }
  return ListenAddress{std::string(host), port};
}

// httplib only says that binding failed; resolving first tells a bad host name apart
// from a port in use. Empty when the host resolves.
std::string resolve_problem(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int error = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (error != 0) return "cannot resolve host \"" + host + "\": " + ::gai_strerror(error);
  ::freeaddrinfo(found);
  return {};
}

void answer_probe(const HealthCheck& check, httplib::Response& response) {
  const HealthReport report = check();
  if (report.ok) {
    response.status = 200;
    response.set_content("ok\n", kTextPlain);
  } else {
    response.status = 503;
    response.set_content((report.reason.empty() ? std::string("not ok") : report.reason) + "\n", kTextPlain);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

Heartbeat::Heartbeat(const Clock& clock, std::chrono::milliseconds max_silence)
    : clock_(clock), max_silence_(max_silence), last_beat_(clock.now().time_since_epoch().count()) {}

HealthReport Heartbeat::check() const {
  const Clock::time_point last_beat{Clock::time_point::duration(last_beat_.load(std::memory_order_relaxed))};
  const auto silence = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - last_beat);
  if (silence <= max_silence_) return HealthReport::healthy();
  return HealthReport::unhealthy("main loop has not ticked for " + std::to_string(silence.count()) + " ms (limit " +
                                 std::to_string(max_silence_.count()) + " ms): it is stuck");
}

// ---------------------------------------------------------------------------------------

struct HttpServer::Impl {
  Impl(const MetricsRegistry& metrics, HealthCheck liveness_check, HealthCheck readiness_check)
      : registry(metrics), liveness(std::move(liveness_check)), readiness(std::move(readiness_check)) {}

  const MetricsRegistry& registry;
  HealthCheck liveness;
  HealthCheck readiness;
  std::unique_ptr<httplib::Server> server;  // a fresh one per start(): httplib's is not restartable
  std::thread thread;
  std::atomic<bool> thread_done{false};
  std::string listen;

  std::unique_ptr<httplib::Server> make_server() const;
};

std::unique_ptr<httplib::Server> HttpServer::Impl::make_server() const {
  auto http = std::make_unique<httplib::Server>();
  http->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // httplib's default sets SO_REUSEPORT, which would let a second daemon on this host
  // silently share the port (and half the probes). SO_REUSEADDR only skips TIME_WAIT.
  http->set_socket_options([](socket_t socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http->set_keep_alive_max_count(kRequestsPerConnection);
  http->set_keep_alive_timeout(kRequestArrivalTimeoutSeconds);
  http->set_read_timeout(kReadWriteTimeoutSeconds, 0);
  http->set_write_timeout(kReadWriteTimeoutSeconds, 0);

  http->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.render(), kPrometheusText);
  });
  http->Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
    answer_probe(liveness, response);
  });
  http->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    answer_probe(readiness, response);
  });
  // Called for every status >= 400, the probes' 503 included: only fill in bodies httplib left empty.
  http->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request,
                                                                 httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (response.status == 404) {
      response.set_content("not found: " + request.path + " (this server has /metrics, /healthz and /readyz)\n",
                           kTextPlain);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }));
  http->set_exception_handler([](const httplib::Request& request, httplib::Response& response,
                                 std::exception_ptr failure) {
    std::string what;
    try {
      std::rethrow_exception(std::move(failure));
    } catch (const std::exception& error) {
      what = error.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
    response.status = 500;
    response.set_content("internal error serving " + request.path + ": " + what + "\n", kTextPlain);
  });
  return http;
}

HttpServer::HttpServer(const MetricsRegistry& registry, HealthCheck liveness, HealthCheck readiness)
    : impl_(std::make_unique<Impl>(registry, std::move(liveness), std::move(readiness))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start(std::string_view listen) {
  if (impl_->thread.joinable()) {
    return Status::error(ErrorKind::Fatal, "the HTTP server already listens on " + impl_->listen +
                                               "; cannot also start it on " + std::string(listen));
  }
  const std::optional<ListenAddress> address = parse_listen(listen);
  if (!address) {
    return Status::error(ErrorKind::Fatal, "http.listen: expected host:port (like 0.0.0.0:8080 or [::]:8080), found \"" +
                                               std::string(listen) + "\"");
  }

  if (const std::string problem = resolve_problem(address->host); !problem.empty()) {
    return Status::error(ErrorKind::Fatal, "cannot serve HTTP on " + std::string(listen) + " (http.listen): " + problem);
  }

  std::unique_ptr<httplib::Server> server = impl_->make_server();
  // httplib reports only success or failure; errno still holds what socket(), bind() or
  // listen() said, since the cleanup after a failure (close, freeaddrinfo) succeeds.
  errno = 0;
  const int port = address->port == 0 ? server->bind_to_any_port(address->host)
                                      : (server->bind_to_port(address->host, address->port) ? address->port : -1);
  if (port < 0) {
    const int error = errno;
    const std::string cause =
        error != 0 ? std::generic_category().message(error) : std::string("cannot bind the address");
    return Status::error(ErrorKind::Fatal, "cannot serve HTTP on " + std::string(listen) + " (http.listen): " + cause);
  }

  impl_->server = std::move(server);
  impl_->listen = std::string(listen);
  impl_->thread_done = false;
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->server->listen_after_bind();
    impl->thread_done = true;
  });
  // stop() is a no-op until httplib's accept loop has started: wait for it, so that a
  // stop() right after start() cannot leave the thread blocked in accept().
  while (!impl_->server->is_running() && !impl_->thread_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl_->thread_done) {
    impl_->thread.join();
    impl_->server.reset();
    return Status::error(ErrorKind::Fatal, "the HTTP server on " + std::string(listen) +
                                               " stopped as soon as it started: accepting connections failed");
  }
  port_ = port;
  return Status::ok();
}

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server->stop();
  impl_->thread.join();
  impl_->server.reset();
}

bool HttpServer::running() const { return impl_->thread.joinable() && !impl_->thread_done; }

}  // namespace kps
