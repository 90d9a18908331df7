#include "connector/http_request.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace kps {
namespace {

// RFC 9110 5.6.2: the characters of a method or a header field name.
bool is_token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_whitespace(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

ParsedRequestHead refuse(int status, std::string reason) {
  ParsedRequestHead parsed;
  parsed.state = ParsedRequestHead::State::Refused;
  parsed.status = status;
  parsed.reason = std::move(reason);
  return parsed;
}

// The path of a request target: origin-form as is, absolute-form (which a server must accept,
// RFC 9112 3.2.2) reduced to its path, and asterisk-form kept as "*" (no path here has it).
// Empty when the target has none of these forms.
std::string_view path_of(std::string_view target) {
  std::string_view path;
  if (target.front() == '/' || target == "*") {
    path = target;
  } else if (starts_with_ignoring_case(target, "http://") || starts_with_ignoring_case(target, "https://")) {
    const std::string_view after_scheme = target.substr(target.find("//") + 2);
    const size_t slash = after_scheme.find('/');
    path = slash == std::string_view::npos ? std::string_view("/") : after_scheme.substr(slash);
  } else {
    return {};
  }
  return path.substr(0, path.find_first_of("?#"));
}

}  // namespace

ParsedRequestHead parse_request_head(std::string_view received, std::size_t max_head_bytes) {
  // RFC 9112 2.2: empty lines before the request line are to be ignored.
  size_t start = 0;
  while (received.substr(start).starts_with("\r\n") || received.substr(start).starts_with("\n")) {
    start += received[start] == '\r' ? 2 : 1;
  }

  std::vector<std::string_view> lines;  // the request line, then one per header field
  size_t request_line_end = std::string_view::npos;
  size_t head_end = std::string_view::npos;
  for (size_t position = start;;) {
    const size_t newline = received.find('\n', position);
    if (newline == std::string_view::npos) break;
    std::string_view line = received.substr(position, newline - position);
    if (line.ends_with('\r')) line.remove_suffix(1);
    position = newline + 1;
    if (lines.empty()) request_line_end = position;
    if (line.empty()) {
      head_end = position;
      break;
    }
    lines.push_back(line);
  }

  const std::string limit = std::to_string(max_head_bytes) + " bytes";
  if (request_line_end == std::string_view::npos ? received.size() >= max_head_bytes
                                                 : request_line_end > max_head_bytes) {
    return refuse(414, "request line longer than " + limit);
  }
  if (head_end == std::string_view::npos ? received.size() >= max_head_bytes : head_end > max_head_bytes) {
    return refuse(431, "request head (request line and header fields) longer than " + limit);
  }
  if (head_end == std::string_view::npos) return {};

  const std::string_view request_line = lines.front();
  const size_t method_end = request_line.find(' ');
  const size_t target_end = method_end == std::string_view::npos ? method_end : request_line.find(' ', method_end + 1);
  if (target_end == std::string_view::npos || request_line.find(' ', target_end + 1) != std::string_view::npos) {
    return refuse(400, "malformed request line: expected METHOD TARGET HTTP/1.1");
  }
  const std::string_view method = request_line.substr(0, method_end);
  const std::string_view target = request_line.substr(method_end + 1, target_end - method_end - 1);
  const std::string_view version = request_line.substr(target_end + 1);
  if (!is_token(method)) return refuse(400, "malformed request line: the method is not a token");
  if (!version.starts_with("HTTP/")) return refuse(400, "malformed request line: no HTTP version");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return refuse(505, "this server speaks HTTP/1.1 and HTTP/1.0");
  }
  const bool target_is_visible = !target.empty() && std::all_of(target.begin(), target.end(), [](char c) {
    return c > ' ' && c < '\x7f';
  });
  const std::string_view path = target_is_visible ? path_of(target) : std::string_view();
  if (path.empty()) return refuse(400, "malformed request target");

  ParsedRequestHead parsed;
  parsed.state = ParsedRequestHead::State::Complete;
  parsed.head.method = std::string(method);
  parsed.head.path = std::string(path);
  for (size_t index = 1; index < lines.size(); ++index) {
    const std::string_view field = lines[index];
    if (field.front() == ' ' || field.front() == '\t') {
      return refuse(400, "obsolete line folding in a header field");  // RFC 9112 5.2
    }
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) {
      return refuse(400, "malformed header field");
    }
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim_whitespace(field.substr(colon + 1));
    if (equals_ignoring_case(name, "Transfer-Encoding") || (equals_ignoring_case(name, "Content-Length") && value != "0")) {
      parsed.head.has_body = true;
    }
  }
  return parsed;
}

}  // namespace kps
