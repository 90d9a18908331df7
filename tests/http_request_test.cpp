#include "connector/http_request.h"

#include <catch2/catch.hpp>

#include <string>

namespace kps {
namespace {

constexpr size_t kLimit = 8192;

ParsedRequestHead parse(const std::string& received) { return parse_request_head(received, kLimit); }

using State = ParsedRequestHead::State;

}  // namespace

TEST_CASE("a request head is complete at its blank line, with CRLF or bare LF line ends") {
  const ParsedRequestHead crlf = parse("GET /metrics HTTP/1.1\r\nHost: sink:8080\r\nAccept: */*\r\n\r\n");
  REQUIRE(crlf.state == State::Complete);
  CHECK(crlf.head.method == "GET");
  CHECK(crlf.head.path == "/metrics");
  CHECK_FALSE(crlf.head.has_body);

  const ParsedRequestHead lf = parse("HEAD /healthz HTTP/1.0\nHost: sink\n\n");
  REQUIRE(lf.state == State::Complete);
  CHECK(lf.head.method == "HEAD");
  CHECK(lf.head.path == "/healthz");
}

TEST_CASE("a request head without its blank line yet is incomplete, however it is cut") {
  const std::string whole = "GET /readyz HTTP/1.1\r\nHost: sink\r\n\r\n";
  for (size_t length = 0; length < whole.size(); ++length) {
    INFO(length);
    CHECK(parse(whole.substr(0, length)).state == State::Incomplete);
  }
  CHECK(parse(whole).state == State::Complete);
}

TEST_CASE("the path loses its query and fragment, and an absolute-form target is reduced to its path") {
  CHECK(parse("GET /metrics?name[]=up HTTP/1.1\r\n\r\n").head.path == "/metrics");
  CHECK(parse("GET /healthz#top HTTP/1.1\r\n\r\n").head.path == "/healthz");
  CHECK(parse("GET http://sink:8080/readyz?x=1 HTTP/1.1\r\n\r\n").head.path == "/readyz");
  CHECK(parse("GET HTTPS://sink HTTP/1.1\r\n\r\n").head.path == "/");
  CHECK(parse("OPTIONS * HTTP/1.1\r\n\r\n").head.path == "*");
}

TEST_CASE("empty lines before the request line are ignored and bytes after the head are not read") {
  const ParsedRequestHead parsed = parse("\r\n\nGET /metrics HTTP/1.1\r\n\r\nGET /other HTTP/1.1\r\n\r\n");
  REQUIRE(parsed.state == State::Complete);
  CHECK(parsed.head.path == "/metrics");
}

TEST_CASE("a Content-Length other than 0 or any Transfer-Encoding announces a body") {
  CHECK(parse("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").head.has_body);
  CHECK(parse("POST /metrics HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n").head.has_body);
  CHECK(parse("GET /metrics HTTP/1.1\r\nContent-Length:   2147483648000  \r\n\r\n").head.has_body);
  CHECK_FALSE(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").head.has_body);
}

TEST_CASE("a request line that has not ended within the limit is refused with 414") {
  const ParsedRequestHead parsed = parse("GET /" + std::string(kLimit, 'a'));
  REQUIRE(parsed.state == State::Refused);
  CHECK(parsed.status == 414);
  CHECK(parsed.reason == "request line longer than 8192 bytes");
  CHECK(parse("GET /" + std::string(kLimit - 6, 'a')).state == State::Incomplete);  // one byte short of the limit
}

TEST_CASE("a head that has not ended within the limit is refused with 431 once its request line has") {
  const ParsedRequestHead parsed = parse("GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(kLimit, 'a'));
  REQUIRE(parsed.state == State::Refused);
  CHECK(parsed.status == 431);
  CHECK(parsed.reason == "request head (request line and header fields) longer than 8192 bytes");

  std::string many_fields = "GET /metrics HTTP/1.1\r\n";
  while (many_fields.size() < kLimit) many_fields += "X-A: b\r\n";
  CHECK(parse(many_fields + "\r\n").status == 431);  // complete, but past the limit
}

TEST_CASE("a malformed request line or header field is refused with 400, another HTTP version with 505") {
  for (const char* head : {"GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 x\r\n\r\n",
                           "G(T /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics FTP/1.1\r\n\r\n",
                           "GET /met\x01rics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                           "GET /metrics HTTP/1.1\r\nHost : sink\r\n\r\n", "GET /metrics HTTP/1.1\r\n: empty\r\n\r\n",
                           "GET /metrics HTTP/1.1\r\nHost: a\r\n  folded\r\n\r\n"}) {
    INFO(head);
    const ParsedRequestHead parsed = parse(head);
    CHECK(parsed.state == State::Refused);
    CHECK(parsed.status == 400);
  }
  const ParsedRequestHead http2 = parse("GET /metrics HTTP/2.0\r\n\r\n");
  CHECK(http2.state == State::Refused);
  CHECK(http2.status == 505);
  CHECK(http2.reason == "this server speaks HTTP/1.1 and HTTP/1.0");
}

}  // namespace kps
