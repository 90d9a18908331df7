#!/usr/bin/env bash
# CI for the container image, without a Docker engine: checks docker/Dockerfile and .dockerignore
# statically, runs the Dockerfile's build stage outside Docker (docker/build.sh, as the RUN line
# calls it: a Release build, no tests, no failpoints) and checks what it built the way the runtime
# stage would run it: --version, --check-config on the example config the image ships, and every
# shared library the binary needs installed by the runtime stage.
#
#   docker/check-image.sh [WORK_DIR]
#
#   WORK_DIR  where the build tree and the install prefix go (default: build-image, relative to
#             the repository root). Reruns reuse it, so only what changed is recompiled.
#
# Prints one line per check; exits 1 when any check fails.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dockerfile="${repo_root}/docker/Dockerfile"
dockerignore="${repo_root}/.dockerignore"
work_dir="${1:-build-image}"
[[ "${work_dir}" == /* ]] || work_dir="${repo_root}/${work_dir}"

failures=0
pass() { echo "  ok    $*"; }
fail() {
  echo "  FAIL  $*" >&2
  failures=$((failures + 1))
}
check() {
  local description="$1"
  shift
  if "$@"; then pass "${description}"; else fail "${description}"; fi
}

# ---------------------------------------------------------------------------------------------
echo "check-image: ${dockerfile#"${repo_root}/"}"
[[ -f "${dockerfile}" ]] || { echo "check-image: no ${dockerfile}" >&2; exit 1; }

# The Dockerfile as logical instructions: comments dropped, backslash continuations joined, so
# that one line is one instruction ("RUN apt-get update && apt-get install -y ...").
instructions="$(sed -e '/^[[:space:]]*#/d' "${dockerfile}" | sed -e ':join' -e '/\\$/{N; s/\\\n/ /; b join}' |
  sed -e 's/[[:space:]]\+/ /g' -e '/^ *$/d')"
stage_count="$(grep -ciE '^FROM ' <<<"${instructions}" || true)"
# The stages, each from its FROM to the next one; the last is what the image is made of.
build_stage="$(awk 'toupper($1) == "FROM" { stage++ } stage == 1' <<<"${instructions}")"
runtime_stage="$(awk -v last="${stage_count}" 'toupper($1) == "FROM" { stage++ } stage == last' <<<"${instructions}")"
runtime_install="$(grep -iE '^RUN .*apt-get install' <<<"${runtime_stage}" || true)"
# The package names of the runtime stage's apt-get install: the words after `install` that are
# neither options nor shell operators, up to the end of that command.
runtime_packages="$(sed -E 's/.*apt-get install//; s/(&&|;|\|\|).*//' <<<"${runtime_install}" | tr ' ' '\n' |
  grep -vE '^(-.*|)$' | sort -u || true)"

check "multi-stage: ${stage_count} stages" test "${stage_count}" -ge 2
check "the build stage runs docker/build.sh" grep -qE '^RUN .*docker/build\.sh' <<<"${build_stage}"
check "the build stage installs the -dev packages" grep -qE '^RUN .*apt-get install.* lib[a-z0-9.+-]+-dev' \
  <<<"${build_stage}"
check "the runtime stage installs its libraries with apt-get" test -n "${runtime_packages}"
dev_packages="$(grep -E -- '-dev$|^(g\+\+|gcc|cmake|make|pkg-config|build-essential)$' <<<"${runtime_packages}" || true)"
check "the runtime stage installs no -dev package or compiler${dev_packages:+ (it has: ${dev_packages//$'\n'/ })}" \
  test -z "${dev_packages}"
check "the runtime stage copies the binary from the build stage" \
  grep -qE '^COPY --from=build [^ ]*/kafka-pg-sink ' <<<"${runtime_stage}"
check "the runtime stage copies the example config to /etc/kafka-pg-sink/config.yaml" \
  grep -qE '^COPY config/example\.yaml /etc/kafka-pg-sink/config\.yaml$' <<<"${runtime_stage}"
runtime_user="$(grep -iE '^USER ' <<<"${runtime_stage}" | tail -n 1 | awk '{ print $2 }')"
check "the image runs as a non-root user (USER ${runtime_user:-unset})" \
  bash -c '[[ -n "$1" && "$1" != root && "${1%%:*}" != 0 ]]' _ "${runtime_user}"
check "the user is created with that uid" grep -qE "useradd .*--uid ${runtime_user%%:*}( |$)" <<<"${runtime_stage}"
check "the entrypoint is the daemon" grep -qE '^ENTRYPOINT \["/usr/local/bin/kafka-pg-sink"\]$' <<<"${runtime_stage}"
check "the default command reads /etc/kafka-pg-sink/config.yaml" \
  grep -qE '^CMD \["--config", ?"/etc/kafka-pg-sink/config\.yaml"\]$' <<<"${runtime_stage}"
check ".dockerignore exists" test -f "${dockerignore}"
# .dockerignore is an allowlist: every source the build stage copies must be let through.
if [[ -f "${dockerignore}" ]]; then
  while read -r source; do
    check ".dockerignore lets ${source} into the build context" grep -qxF "!${source}" "${dockerignore}"
  done < <(grep -E '^COPY ' <<<"${build_stage}" | grep -v -- '--from=' | awk '{ for (i = 2; i < NF; i++) print $i }')
  check ".dockerignore keeps .git out" bash -c 'grep -qxF "*" "$1" || grep -qE "^\.git/?$" "$1"' _ "${dockerignore}"
fi

# ---------------------------------------------------------------------------------------------
# The build stage's RUN line, with its BUILD_DIR and PREFIX moved under WORK_DIR.
build_run="$(grep -E '^RUN .*docker/build\.sh' <<<"${build_stage}" | head -n 1)"
echo "check-image: the build stage outside Docker (${build_run#RUN })"
[[ "${build_run}" =~ BUILD_DIR=([^ ]+) ]] && image_build_dir="${BASH_REMATCH[1]}" || image_build_dir=""
[[ "${build_run}" =~ PREFIX=([^ ]+) ]] && image_prefix="${BASH_REMATCH[1]}" || image_prefix=""
if [[ -z "${image_build_dir}" || -z "${image_prefix}" ]]; then
  fail "the build stage's RUN line sets BUILD_DIR and PREFIX for docker/build.sh: ${build_run}"
  echo "check-image: ${failures} check(s) failed" >&2
  exit 1
fi
build_dir="${work_dir}/build"
prefix="${work_dir}/prefix"
started=${SECONDS}
# JOBS: ctest may run other tests beside this one.
BUILD_DIR="${build_dir}" PREFIX="${prefix}" JOBS="${JOBS:-2}" bash "${repo_root}/docker/build.sh" \
  >"${work_dir}.log" 2>&1 || {
  tail -n 40 "${work_dir}.log" >&2
  echo "check-image: docker/build.sh failed (log: ${work_dir}.log)" >&2
  exit 1
}
echo "check-image: built in $((SECONDS - started)) s (log: ${work_dir}.log)"
binary="${prefix}/bin/kafka-pg-sink"
check "docker/build.sh installed ${binary#"${work_dir}/"}" test -x "${binary}"
cache="${build_dir}/CMakeCache.txt"
check "a Release build" grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "${cache}"
check "without tests" grep -qx 'KPS_BUILD_TESTS:BOOL=OFF' "${cache}"
check "without failpoints (the binary does not read KPS_FAILPOINT)" \
  bash -c '! grep -q KPS_FAILPOINT "$1"' _ "${binary}"

# ---------------------------------------------------------------------------------------------
echo "check-image: the built binary, run as the image runs it"
# A clean environment, as in the container: nothing from this shell leaks into the checks.
run_clean() {
  env -i PATH=/usr/bin:/bin "$@"
}
version="$(run_clean "${binary}" --version)" || fail "--version exited with status $?"
echo "${version}" | sed 's/^/        /'
# Each library's version, as the binary reports it, is the one it was built against here.
expect_version() {
  local library="$1" package="$2" expected
  expected="$(pkg-config --modversion "${package}")"
  check "--version names ${library} ${expected}" grep -qxF "${library} ${expected}" <<<"${version}"
}
check "--version names kafka-pg-sink and its version" grep -qE '^kafka-pg-sink [0-9]+\.[0-9]+\.[0-9]+' <<<"${version}"
expect_version librdkafka rdkafka
expect_version libpq libpq
expect_version simdjson simdjson
expect_version RocksDB rocksdb

example="${repo_root}/config/example.yaml"
output="$(run_clean KAFKA_USER=kafka-pg-sink KAFKA_PASSWORD=placeholder "${binary}" --config "${example}" --check-config 2>&1)" &&
  status=0 || status=$?
check "--check-config on config/example.yaml, with the variables it names set: exit 0 (got ${status})" test "${status}" -eq 0
check "--check-config prints \"config ok\" (printed: ${output})" test "${output}" = "config ok"
# The same without the variables: the check is real, and it names what is missing.
output="$(run_clean "${binary}" --config "${example}" --check-config 2>&1)" && status=0 || status=$?
check "--check-config without KAFKA_PASSWORD: exit 2 (got ${status})" test "${status}" -eq 2
check "--check-config without KAFKA_PASSWORD names it" grep -q 'KAFKA_PASSWORD is not set' <<<"${output}"

# Every shared library the binary needs comes from a package the runtime stage installs, or from
# the few that every Debian image holds (the C and C++ runtimes).
readonly base_packages="libc6 libstdc++6 libgcc-s1"
while read -r library; do
  path="$(ldd "${binary}" | awk -v library="${library}" '$1 == library { print $3 }')"
  if [[ -z "${path}" || "${path}" == "not" ]]; then
    fail "${library}: not found on this machine"
    continue
  fi
  # dpkg knows the file under its real name and, on merged-/usr systems, maybe under /lib.
  package="$(dpkg -S "$(readlink -f "${path}")" 2>/dev/null || dpkg -S "${path}" 2>/dev/null ||
    dpkg -S "/usr${path#/usr}" 2>/dev/null || dpkg -S "/lib/${path#/usr/lib/}" 2>/dev/null || true)"
  package="${package%%:*}"
  if [[ -z "${package}" ]]; then
    fail "${library} (${path}): no Debian package owns it"
  elif [[ " ${base_packages} " == *" ${package} "* ]]; then
    pass "${library}: ${package} (in every Debian image)"
  else
    check "${library}: ${package} is installed by the runtime stage" grep -qxF "${package}" <<<"${runtime_packages}"
  fi
done < <(readelf -d "${binary}" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p')

if ((failures != 0)); then
  echo "check-image: ${failures} check(s) failed" >&2
  exit 1
fi
echo "check-image: all checks passed"
