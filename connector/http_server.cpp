#include "connector/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "connector/http_request.h"
#include "connector/metrics.h"

namespace kps {
namespace {

using SteadyTime = Clock::time_point;
using std::chrono::milliseconds;

constexpr const char* kTextPlain = "text/plain; charset=utf-8";
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

// The whole request head (request line and header fields) must arrive within this long of the
// connection's accept, and fit in this many bytes; what does not is answered 408, 414 or 431
// and closed. Probes and scrapes send about 200 bytes at once.
constexpr milliseconds kRequestHeadDeadline{5000};
constexpr size_t kMaxRequestHeadBytes = 8192;
// A response (at most a /metrics page) must be taken by the client within this long.
constexpr milliseconds kResponseWriteDeadline{5000};
// After the response, the server reads and drops what the client still sends (a refused body)
// for at most this long and this much, so that closing does not reset the connection before
// the client has read the answer; a client still sending past either has no claim on it.
constexpr milliseconds kLingerDeadline{1000};
constexpr size_t kMaxLingerBytes = size_t{1} << 20;
// Open connections at most; when one more arrives, the oldest connection that has not
// finished its request (or is only lingering) is closed to make room, so a crowd of idle
// clients cannot lock the probes out.
constexpr size_t kMaxConnections = 256;
// When accept() runs out of descriptors, accepting pauses this long instead of spinning.
constexpr milliseconds kAcceptPauseAfterError{100};
// Bounds of one loop iteration, so that one busy connection cannot starve the others.
constexpr int kMaxAcceptsPerIteration = 64;
constexpr int kMaxDrainReadsPerIteration = 16;
constexpr milliseconds kMaxPollWait{1000};

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

std::string errno_text(int error) { return std::generic_category().message(error); }

/// Owns one file descriptor and closes it once. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { reset(); }
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// Owns the getaddrinfo() list.
struct AddressList {
  addrinfo* first = nullptr;
  AddressList() = default;
  ~AddressList() {
    if (first != nullptr) ::freeaddrinfo(first);
  }
  AddressList(const AddressList&) = delete;
  AddressList& operator=(const AddressList&) = delete;
};

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

struct Answer {
  int status = 200;
  std::string body;
  const char* content_type = kTextPlain;
  bool allow_header = false;  // 405 names the methods that are allowed
};

Answer text_answer(int status, std::string line) { return {status, std::move(line) + "\n", kTextPlain, false}; }

/// The whole response; every one closes the connection, so a server that stops never waits
/// on an idle keep-alive connection and no client holds a slot for more than one request.
std::string serialize(const Answer& answer, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " + reason_phrase(answer.status) + "\r\n";
  out += "Content-Type: ";
  out += answer.content_type;
  out += "\r\nContent-Length: " + std::to_string(answer.body.size()) + "\r\n";
  if (answer.allow_header) out += "Allow: GET, HEAD\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += answer.body;
  return out;
}

Answer answer_probe(const HealthCheck& check) {
  const HealthReport report = check();
  if (report.ok) return text_answer(200, "ok");
  return text_answer(503, report.reason.empty() ? std::string("not ok") : report.reason);
}

enum class Phase {
  ReadingHead,  // until the head is complete, refused, or its deadline passes
  Writing,      // the response, until sent or its deadline passes
  Lingering,    // response sent and our side shut down: dropping what the client still sends
};

struct Connection {
  FileDescriptor socket;
  std::uint64_t accept_order = 0;  // the lower, the older: eviction closes the oldest first
  Phase phase = Phase::ReadingHead;
  SteadyTime deadline;  // of the current phase
  std::string received;
  std::string response;
  size_t sent = 0;
  size_t dropped = 0;  // bytes read and dropped while lingering
  bool closed = false;
};

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

/// The event loop: one thread, non-blocking sockets, poll(). No connection can hold the
/// thread: every phase of a connection has a deadline, reads and writes never block, and a
/// response is rendered in one go (the checks and the registry are quick by contract).
struct HttpServer::Impl {
  Impl(const MetricsRegistry& metrics, HealthCheck liveness_check, HealthCheck readiness_check, const Clock& time)
      : registry(metrics), liveness(std::move(liveness_check)), readiness(std::move(readiness_check)), clock(time) {}

  const MetricsRegistry& registry;
  const HealthCheck liveness;
  const HealthCheck readiness;
  const Clock& clock;  // every deadline of a connection is on it

  FileDescriptor listener;
  FileDescriptor wake;  // an eventfd: stop() writes it to end the loop's poll()
  std::atomic<bool> stop_requested{false};
  std::thread thread;
  std::atomic<bool> thread_done{false};
  std::string listen;

  // Owned by the loop's thread while it runs.
  std::vector<Connection> connections;
  std::uint64_t next_accept_order = 0;
  SteadyTime accept_paused_until;
  std::array<char, 65536> scratch{};  // what reads land in before they are kept or dropped

  void run();
  void accept_connections(SteadyTime now);
  void make_room();
  void read_head(Connection& connection, SteadyTime now);
  void respond(Connection& connection, const Answer& answer, bool head_only, SteadyTime now);
  void write_response(Connection& connection, SteadyTime now);
  void drain(Connection& connection);
  void expire(Connection& connection, SteadyTime now);
  Answer answer(const RequestHead& request) const;
};

void HttpServer::Impl::run() {
  std::vector<pollfd> watched;
  while (!stop_requested.load()) {
    const SteadyTime now = clock.now();
    const bool accepting = now >= accept_paused_until;
    SteadyTime wake_at = now + kMaxPollWait;
    if (!accepting) wake_at = std::min(wake_at, accept_paused_until);

    watched.clear();
    watched.push_back({wake.get(), POLLIN, 0});
    watched.push_back({accepting ? listener.get() : -1, POLLIN, 0});  // a negative fd is skipped
    for (const Connection& connection : connections) {
      watched.push_back({connection.socket.get(), connection.phase == Phase::Writing ? short{POLLOUT} : short{POLLIN}, 0});
      wake_at = std::min(wake_at, connection.deadline);
    }
    const auto wait = std::chrono::ceil<milliseconds>(std::max(wake_at - now, SteadyTime::duration::zero()));
    if (::poll(watched.data(), watched.size(), static_cast<int>(wait.count())) < 0) {
      // EINTR, or ENOMEM: nothing is lost by looking again (the loop is bounded by the wait).
      if (errno != EINTR) clock.sleep_for(milliseconds(10));
      continue;
    }
    if (watched[0].revents != 0) break;

    const SteadyTime after_poll = clock.now();
    // The connections first, by their index in `watched`: accepting may reorder the list.
    for (size_t index = 0; index < connections.size(); ++index) {
      Connection& connection = connections[index];
      const short events = watched[index + 2].revents;
      if (events != 0) {
        switch (connection.phase) {
          case Phase::ReadingHead: read_head(connection, after_poll); break;
          case Phase::Writing: write_response(connection, after_poll); break;
          case Phase::Lingering: drain(connection); break;
        }
      }
      if (!connection.closed) expire(connection, after_poll);
    }
    std::erase_if(connections, [](const Connection& connection) { return connection.closed; });
    if ((watched[1].revents & POLLIN) != 0) accept_connections(after_poll);
  }
  connections.clear();  // closes every connection; a response still being sent is cut off
}

void HttpServer::Impl::accept_connections(SteadyTime now) {
  for (int accepted = 0; accepted < kMaxAcceptsPerIteration; ++accepted) {
    FileDescriptor socket(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!socket.valid()) {
      const int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        accept_paused_until = now + kAcceptPauseAfterError;  // the pending ones wait in the backlog
      }
      return;  // EAGAIN: all taken; ECONNABORTED and the like concern that one client only
    }
    if (connections.size() >= kMaxConnections) make_room();
    Connection connection;
    connection.socket = std::move(socket);
    connection.accept_order = next_accept_order++;
    connection.deadline = now + kRequestHeadDeadline;
    connections.push_back(std::move(connection));
    // A probe's request is usually in the socket already: answered now, it can never be the
    // one closed to make room for a crowd of new connections.
    read_head(connections.back(), now);
  }
}

void HttpServer::Impl::make_room() {
  std::erase_if(connections, [](const Connection& connection) { return connection.closed; });
  if (connections.size() < kMaxConnections) return;
  // Lingering connections are done; then the oldest still sending its head (the slow or idle
  // clients); a connection being answered goes only when nothing else can.
  const auto rank = [](const Connection& connection) {
    switch (connection.phase) {
      case Phase::Lingering: return 0;
      case Phase::ReadingHead: return 1;
      case Phase::Writing: return 2;
    }
    return 2;
  };
  const auto victim = std::min_element(connections.begin(), connections.end(), [&](const Connection& a, const Connection& b) {
    return std::pair(rank(a), a.accept_order) < std::pair(rank(b), b.accept_order);
  });
  if (victim != connections.end()) connections.erase(victim);
}

void HttpServer::Impl::read_head(Connection& connection, SteadyTime now) {
  const size_t room = kMaxRequestHeadBytes - connection.received.size();
  const ssize_t count = ::recv(connection.socket.get(), scratch.data(), std::min(room, scratch.size()), 0);
  if (count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    connection.closed = true;  // the client left before asking anything
    return;
  }
  if (count < 0) return;
  connection.received.append(scratch.data(), static_cast<size_t>(count));

  const ParsedRequestHead parsed = parse_request_head(connection.received, kMaxRequestHeadBytes);
  switch (parsed.state) {
    case ParsedRequestHead::State::Incomplete: return;
    case ParsedRequestHead::State::Refused:
      respond(connection, text_answer(parsed.status, parsed.reason), false, now);
      return;
    case ParsedRequestHead::State::Complete:
      respond(connection, answer(parsed.head), parsed.head.method == "HEAD", now);
      return;
  }
}

Answer HttpServer::Impl::answer(const RequestHead& request) const {
  const bool known_path = request.path == "/metrics" || request.path == "/healthz" || request.path == "/readyz";
  if (!known_path) {
    return text_answer(404, "not found: " + request.path + " (this server has /metrics, /healthz and /readyz)");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    Answer refused = text_answer(405, "method not allowed: " + request.method + " (this server answers GET and HEAD)");
    refused.allow_header = true;
    return refused;
  }
  // Refused before a byte of it is read: GET and HEAD carry no body here.
  if (request.has_body) return text_answer(413, "request bodies are refused: GET and HEAD take none");

  try {
    if (request.path == "/healthz") return answer_probe(liveness);
    if (request.path == "/readyz") return answer_probe(readiness);
    return {200, registry.render(), kPrometheusText, false};
  } catch (const std::exception& error) {
    return text_answer(500, "internal error serving " + request.path + ": " + error.what());
  } catch (...) {
    return text_answer(500, "internal error serving " + request.path + ": an exception that is not a std::exception");
  }
}

void HttpServer::Impl::respond(Connection& connection, const Answer& answer, bool head_only, SteadyTime now) {
  connection.received.clear();
  connection.received.shrink_to_fit();
  connection.response = serialize(answer, head_only);
  connection.sent = 0;
  connection.phase = Phase::Writing;
  connection.deadline = now + kResponseWriteDeadline;
  write_response(connection, now);  // most responses fit the socket buffer: no extra poll round
}

void HttpServer::Impl::write_response(Connection& connection, SteadyTime now) {
  while (connection.sent < connection.response.size()) {
    const ssize_t count = ::send(connection.socket.get(), connection.response.data() + connection.sent,
                                 connection.response.size() - connection.sent, MSG_NOSIGNAL);
    if (count < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      connection.closed = true;  // the client is gone
      return;
    }
    connection.sent += static_cast<size_t>(count);
  }
  ::shutdown(connection.socket.get(), SHUT_WR);
  connection.response = std::string();
  connection.phase = Phase::Lingering;
  connection.deadline = now + kLingerDeadline;
}

void HttpServer::Impl::drain(Connection& connection) {
  for (int reads = 0; reads < kMaxDrainReadsPerIteration; ++reads) {
    const ssize_t count = ::recv(connection.socket.get(), scratch.data(), scratch.size(), 0);
    if (count > 0) {
      connection.dropped += static_cast<size_t>(count);
      if (connection.dropped < kMaxLingerBytes) continue;
      connection.closed = true;
      return;
    }
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    connection.closed = true;  // the client closed its side (or failed): done
    return;
  }
}

void HttpServer::Impl::expire(Connection& connection, SteadyTime now) {
  if (now < connection.deadline) return;
  switch (connection.phase) {
    case Phase::ReadingHead:
      respond(connection,
              text_answer(408, "request head not received within " + std::to_string(kRequestHeadDeadline.count()) + " ms"),
              false, now);
      // A 408 that does not fit the socket at once goes to a client that is not reading
      // either: no more time for it.
      if (!connection.closed && connection.phase == Phase::Writing) connection.closed = true;
      return;
    case Phase::Writing:
    case Phase::Lingering: connection.closed = true; return;
  }
}

// ---------------------------------------------------------------------------------------

HttpServer::HttpServer(const MetricsRegistry& registry, HealthCheck liveness, HealthCheck readiness, const Clock& clock)
    : impl_(std::make_unique<Impl>(registry, std::move(liveness), std::move(readiness), clock)) {}

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
  const std::string problem_prefix = "cannot serve HTTP on " + std::string(listen) + " (http.listen): ";

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  AddressList addresses;
  const std::string port_text = std::to_string(address->port);
  if (const int error = ::getaddrinfo(address->host.c_str(), port_text.c_str(), &hints, &addresses.first); error != 0) {
    return Status::error(ErrorKind::Fatal,
                         problem_prefix + "cannot resolve host \"" + address->host + "\": " + ::gai_strerror(error));
  }

  // The first address the host resolves to that binds; the error of the last one otherwise.
  FileDescriptor listener;
  int last_error = EADDRNOTAVAIL;
  for (const addrinfo* candidate = addresses.first; candidate != nullptr && !listener.valid();
       candidate = candidate->ai_next) {
    FileDescriptor socket(
        ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, candidate->ai_protocol));
    if (!socket.valid()) {
      last_error = errno;
      continue;
    }
    // SO_REUSEADDR only skips TIME_WAIT after a restart; no SO_REUSEPORT, which would let a
    // second daemon on this host silently share the port (and half the probes).
    const int yes = 1;
    ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(socket.get(), candidate->ai_addr, candidate->ai_addrlen) != 0 || ::listen(socket.get(), SOMAXCONN) != 0) {
      last_error = errno;
      continue;
    }
    listener = std::move(socket);
  }
  if (!listener.valid()) return Status::error(ErrorKind::Fatal, problem_prefix + errno_text(last_error));

  sockaddr_storage bound{};
  socklen_t bound_size = sizeof bound;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_size) != 0) {
    return Status::error(ErrorKind::Fatal, problem_prefix + "cannot read the bound port: " + errno_text(errno));
  }
  const int port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port
                                                     : reinterpret_cast<const sockaddr_in&>(bound).sin_port);

  FileDescriptor wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return Status::error(ErrorKind::Fatal, problem_prefix + "eventfd: " + errno_text(errno));

  impl_->listener = std::move(listener);
  impl_->wake = std::move(wake);
  impl_->listen = std::string(listen);
  impl_->stop_requested = false;
  impl_->thread_done = false;
  impl_->connections.clear();
  impl_->accept_paused_until = {};
  // The socket already listens: connections made from here on wait in its backlog.
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->run();
    impl->thread_done = true;
  });
  port_ = port;
  return Status::ok();
}

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stop_requested = true;
  const std::uint64_t one = 1;
  // Cannot fail short of a full counter, which one write per stop() never reaches.
  [[maybe_unused]] const ssize_t written = ::write(impl_->wake.get(), &one, sizeof one);
  impl_->thread.join();
  impl_->listener.reset();
  impl_->wake.reset();
}

bool HttpServer::running() const { return impl_->thread.joinable() && !impl_->thread_done; }

}  // namespace kps
