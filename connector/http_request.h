#pragma once
// Reads an HTTP/1.x request head (request line and header fields) out of the bytes a
// connection has received so far, for the daemon's own small HTTP server. Pure: no I/O, no
// allocation beyond the result, so every refusal is unit-tested without a socket.
//
// Only what /metrics, /healthz and /readyz need is understood: the method, the path, and
// whether a body follows (which the server refuses without reading it).

#include <cstddef>
#include <string>
#include <string_view>

namespace kps {

/// A complete, well-formed request head.
struct RequestHead {
  std::string method;  // as sent, case-sensitive ("GET", "HEAD", "POST", ...)
  std::string path;    // the target's path: query and fragment cut off; absolute-form reduced to its path
  /// A body follows the head: a Content-Length other than 0, or any Transfer-Encoding.
  bool has_body = false;
};

/// What the bytes received so far amount to.
struct ParsedRequestHead {
  enum class State {
    Incomplete,  // the head has not ended yet and is within the limit: read more
    Complete,    // `head` holds the request
    Refused,     // answer `status` with `reason` and close: 400, 414, 431 or 505
  };
  State state = State::Incomplete;
  RequestHead head;
  int status = 0;
  std::string reason;
};

/// Parses `received`, the first bytes of a connection. A head longer than `max_head_bytes`
/// (up to and including the blank line that ends it) is refused as soon as that many bytes
/// have arrived without its end: 414 while the request line itself has not ended, 431 after.
/// Bytes after the head (a body, a pipelined request) are ignored.
ParsedRequestHead parse_request_head(std::string_view received, std::size_t max_head_bytes);

}  // namespace kps
