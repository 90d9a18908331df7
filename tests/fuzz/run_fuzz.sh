#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (the main build uses g++, which has no
# libFuzzer) and fuzzes each for a bounded time, failing on any crash, sanitizer
# report, timeout or out-of-memory. Seeds come from tests/fuzz/corpus/ in the repo;
# the corpus libFuzzer grows lives in the build directory, so the repo is never touched.
#
#   KPS_FUZZ_SECONDS    seconds per target (default 60)
#   KPS_FUZZ_BUILD_DIR  build directory (default build-fuzz/ in the repo)
#   KPS_FUZZ_TARGETS    targets to run (default "decoder config http_request")
#   CI=true             a missing clang/libFuzzer is a failure, not a skip
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly root="$PWD"
readonly seconds="${KPS_FUZZ_SECONDS:-60}"
readonly build_dir="$(realpath -m "${KPS_FUZZ_BUILD_DIR:-build-fuzz}")"
read -r -a targets <<<"${KPS_FUZZ_TARGETS:-decoder config http_request}"

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "run_fuzz: KPS_FUZZ_SECONDS must be a positive number of seconds, got \"$seconds\"" >&2
  exit 2
fi

# Probing with a real link is the only reliable test: clang can be installed without
# the libFuzzer runtime (Debian's libclang-rt-14-dev).
libfuzzer_available() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe/probe.cpp"
  local status=0
  clang++ -fsanitize=fuzzer,address "$probe/probe.cpp" -o "$probe/probe" >/dev/null 2>&1 || status=1
  rm -rf "$probe"
  return "$status"
}

if ! libfuzzer_available; then
  if [[ "${CI:-}" == true ]]; then
    echo "run_fuzz: clang++ with libFuzzer is required in CI; install clang and libclang-rt-14-dev" \
      "(integration/install-deps.sh does)" >&2
    exit 1
  fi
  echo "skipped: clang/libFuzzer not installed"
  exit 0
fi

cmake -S "$root" -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DKPS_FUZZ=ON -DKPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target "${targets[@]/#/fuzz_}" -j"${KPS_FUZZ_JOBS:-2}"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"

failed=()
for target in "${targets[@]}"; do
  corpus="$build_dir/corpus/$target"
  artifacts="$build_dir/artifacts/$target/$(date +%Y%m%dT%H%M%S)"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$root/tests/fuzz/corpus/$target/"* "$corpus/"
  echo "run_fuzz: fuzz_$target for ${seconds}s on $(find "$corpus" -type f | wc -l) inputs"
  status=0
  "$build_dir/tests/fuzz/fuzz_$target" "$corpus" \
    -dict="$root/tests/fuzz/$target.dict" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 2>"$artifacts/log" || status=$?
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' \
    "$artifacts/log" || true
  if ((status != 0)); then
    failed+=("$target")
    echo "run_fuzz: fuzz_$target FAILED (exit $status); log: $artifacts/log" >&2
    grep -E -A30 '^(==[0-9]+==ERROR|fuzz_[a-z]+ invariant broken|.*runtime error:)' "$artifacts/log" | head -60 >&2 || true
    for input in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-*; do
      [[ -e "$input" ]] || continue
      echo "run_fuzz: failing input: $input (reproduce: $build_dir/tests/fuzz/fuzz_$target $input)" >&2
    done
  else
    rm -rf "$artifacts"
  fi
done

if ((${#failed[@]} > 0)); then
  echo "run_fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "run_fuzz: no findings"
