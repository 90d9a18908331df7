#!/usr/bin/env bash
# Builds the release binary of kafka-pg-sink and installs it. The same script runs in the
# Dockerfile's build stage and in CI outside Docker, so the image ships exactly what CI built.
#
#   docker/build.sh [BUILD_DIR [PREFIX]]
#
#   BUILD_DIR   CMake build directory (default: build-release, relative to the repository root)
#   PREFIX      install prefix; the binary lands in PREFIX/bin (default: /usr/local)
#
# Arguments win over the environment variables of the same names. Also read from the environment:
#   JOBS        parallel compile jobs (default: the number of cores)
#   KPS_WERROR  ON to turn compiler warnings into errors (default: OFF, so a newer compiler's
#               new warning cannot break a release build; CI's checked build turns it on)
set -euo pipefail

usage() {
  sed -n '5,15s/^# \{0,1\}//p' "$0"
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
esac
if [[ $# -gt 2 ]]; then
  echo "build.sh: expected at most 2 arguments (BUILD_DIR PREFIX), got $#" >&2
  usage >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-${BUILD_DIR:-build-release}}"
prefix="${2:-${PREFIX:-/usr/local}}"
jobs="${JOBS:-$(nproc)}"
werror="${KPS_WERROR:-OFF}"

# A relative build directory is taken from the repository root, wherever the script is run from.
if [[ "${build_dir}" != /* ]]; then
  build_dir="${repo_root}/${build_dir}"
fi

echo "build.sh: source ${repo_root}, build ${build_dir}, prefix ${prefix}, ${jobs} jobs"

cmake -S "${repo_root}" -B "${build_dir}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DKPS_BUILD_TESTS=OFF \
  -DKPS_FAILPOINTS=OFF \
  -DKPS_WERROR="${werror}"
cmake --build "${build_dir}" --target kafka-pg-sink --parallel "${jobs}"
# --strip: the image carries no debugger, and symbols would double the binary's size.
cmake --install "${build_dir}" --prefix "${prefix}" --strip

# Running the installed binary proves every shared library it needs resolves on this system.
"${prefix}/bin/kafka-pg-sink" --version
