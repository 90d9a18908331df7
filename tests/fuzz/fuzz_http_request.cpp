// libFuzzer target for kps::parse_request_head, the parser that faces every client able to
// reach the HTTP port: any bytes are Incomplete, Complete or Refused, never a crash, a
// sanitizer report or a hang, and each answer keeps the promises of http_request.h.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connector/http_request.h"

namespace kps {
namespace {

constexpr size_t kMaxHeadBytes = 512;  // small, so the fuzzer reaches the limit often

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_http_request invariant broken: %s (input of %zu bytes)\n", what, input.size());
  std::abort();
}

void check(std::string_view input) {
  const ParsedRequestHead parsed = parse_request_head(input, kMaxHeadBytes);
  switch (parsed.state) {
    case ParsedRequestHead::State::Incomplete:
      // The server reads at most the limit: it must never be left waiting with a full buffer.
      if (input.size() >= kMaxHeadBytes) fail("incomplete at or past the limit", input);
      return;
    case ParsedRequestHead::State::Complete:
      if (parsed.head.method.empty()) fail("complete without a method", input);
      if (parsed.head.path.empty() || (parsed.head.path.front() != '/' && parsed.head.path != "*")) {
        fail("complete with a path that is neither /... nor *", input);
      }
      if (parsed.head.path.find_first_of("?# \r\n") != std::string::npos) fail("path keeps a query or a space", input);
      return;
    case ParsedRequestHead::State::Refused:
      if (parsed.status != 400 && parsed.status != 414 && parsed.status != 431 && parsed.status != 505) {
        fail("refused with a status the server does not send", input);
      }
      if (parsed.reason.empty()) fail("refused without a reason", input);
      return;
  }
  fail("unknown state", input);
}

}  // namespace
}  // namespace kps

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kps::check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
