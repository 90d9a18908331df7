#include "connector/failpoint.h"

#ifdef KPS_FAILPOINTS

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace kps {
namespace {

struct Armed {
  std::string name;
  long remaining_hits = 0;  // dies when this reaches zero
};

const Armed& armed() {
  static const Armed parsed = [] {
    Armed result;
    const char* spec = std::getenv("KPS_FAILPOINT");
    if (spec == nullptr || *spec == '\0') return result;
    result.name = spec;
    result.remaining_hits = 1;
    if (const auto colon = result.name.find(':'); colon != std::string::npos) {
      result.remaining_hits = std::max(1L, std::strtol(result.name.c_str() + colon + 1, nullptr, 10));
      result.name.resize(colon);
    }
    return result;
  }();
  return parsed;
}

std::atomic<long> g_hits{0};

}  // namespace

void failpoint(const char* name) {
  const Armed& point = armed();
  if (point.name.empty() || point.name != name) return;
  if (g_hits.fetch_add(1) + 1 < point.remaining_hits) return;
  const char message[] = "kafka-pg-sink: failpoint reached, killing the process\n";
  (void)!write(STDERR_FILENO, message, sizeof message - 1);
  kill(getpid(), SIGKILL);
}

}  // namespace kps

#endif
