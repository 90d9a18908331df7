#pragma once
// Deterministic crash points for the fault tests. A build with KPS_FAILPOINTS (the
// default for development and CI builds; the image turns it off) reads
// KPS_FAILPOINT=name[:N] at start and kills the process with SIGKILL the Nth time
// (default: first) execution passes `failpoint("name")` — the same death as kill -9,
// at an exact instant. Without KPS_FAILPOINTS the calls compile to nothing.

namespace kps {

#ifdef KPS_FAILPOINTS
void failpoint(const char* name);
#else
inline void failpoint(const char*) {}
#endif

}  // namespace kps
