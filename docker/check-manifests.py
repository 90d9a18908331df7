#!/usr/bin/env python3
"""Checks the manifests `helm template` rendered from helm/kafka-pg-sink against what a deployment
relies on. Called by docker/check-helm.sh, once per set of values, with what those values must
produce:

  check-manifests.py RENDERED.yaml --replicas N --http-port PORT --persistence pvc|emptydir
      [--empty-dir-size-limit SIZE] [--secret NAME --secret-key VARIABLE=KEY ...]
      [--absent-variable VARIABLE ...] [--service-monitor] [--log-format text|json]
      [--dashboard --dashboard-label KEY=VALUE ... --absent-dashboard-label KEY ...]
      [--prometheus-rule --readme README.md]
      [--config-out PATH]

The manifests are parsed, not grepped, so every property is checked where Kubernetes reads it
(the liveness probe's path inside livenessProbe of the daemon's container, not anywhere in the
file). Prints one line per check; exits 1 when any check fails, 2 on bad usage or unreadable
input. --config-out writes the daemon's config file as rendered into the ConfigMap, so the
caller can run `kafka-pg-sink --check-config` on exactly what a pod would read.

--dashboard: the Grafana dashboard's ConfigMap must be rendered, carrying each --dashboard-label
(the sidecar's selector), none of the --absent-dashboard-label keys, and one parseable dashboard
JSON; without it, no such ConfigMap.
--prometheus-rule: one PrometheusRule whose alerts each have a severity and the annotations
summary, description and runbook_url, the runbook's #anchor being a heading of --readme; without
it, no PrometheusRule.
"""

import argparse
import json
import re
import sys

import yaml

kContainerName = "kafka-pg-sink"
kConfigKey = "config.yaml"
kDashboardKey = "kafka-pg-sink.json"
# The alerts the project README documents ("Operating", "Alerts").
kAlerts = ["KafkaPgSinkLagGrowing", "KafkaPgSinkWriteStuck", "KafkaPgSinkDeadLettersRising",
           "KafkaPgSinkCircuitBreakerTripped", "KafkaPgSinkNotReady", "KafkaPgSinkRestarting"]
# The daemon's own defaults (README, "Configuration reference") for the keys checked here.
kDefaultShutdownTimeoutMs = 30000
kDefaultStateDir = "/var/lib/kafka-pg-sink"
kDefaultLogFormat = "text"


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, condition, description, detail=""):
        if condition:
            print(f"  ok    {description}")
        else:
            self.failures += 1
            print(f"  FAIL  {description}" + (f": {detail}" if detail else ""), file=sys.stderr)
        return condition

    def equal(self, expected, actual, description):
        return self.check(expected == actual, description, f"expected {expected!r}, rendered {actual!r}")


def dig(node, *keys):
    """node[key][key]..., or None as soon as a level is missing."""
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def by_name(items, name):
    return next((item for item in items or [] if isinstance(item, dict) and item.get("name") == name), None)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rendered", help="the output of helm template")
    parser.add_argument("--replicas", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--persistence", choices=["pvc", "emptydir"], required=True)
    parser.add_argument("--empty-dir-size-limit", default="")
    parser.add_argument("--secret", default="", help="the existingSecret the values name")
    parser.add_argument("--secret-key", action="append", default=[], metavar="VARIABLE=KEY",
                        help="an environment variable that must come from the secret's KEY")
    parser.add_argument("--absent-variable", action="append", default=[], metavar="VARIABLE",
                        help="an environment variable the container must not have")
    parser.add_argument("--service-monitor", action="store_true", help="a ServiceMonitor must be rendered")
    parser.add_argument("--log-format", choices=["text", "json"], default=kDefaultLogFormat)
    parser.add_argument("--dashboard", action="store_true", help="the dashboard ConfigMap must be rendered")
    parser.add_argument("--dashboard-label", action="append", default=[], metavar="KEY=VALUE",
                        help="a label the dashboard ConfigMap must carry")
    parser.add_argument("--absent-dashboard-label", action="append", default=[], metavar="KEY",
                        help="a label the dashboard ConfigMap must not carry")
    parser.add_argument("--prometheus-rule", action="store_true", help="a PrometheusRule must be rendered")
    parser.add_argument("--readme", default="", help="the README whose headings the runbook anchors name")
    parser.add_argument("--config-out", default="")
    arguments = parser.parse_args()
    for pair in arguments.dashboard_label:
        if "=" not in pair:
            parser.error(f"--dashboard-label wants KEY=VALUE, got {pair!r}")
    if arguments.prometheus_rule and not arguments.readme:
        parser.error("--prometheus-rule needs --readme")
    for pair in arguments.secret_key:
        if "=" not in pair:
            parser.error(f"--secret-key wants VARIABLE=KEY, got {pair!r}")
    if arguments.secret_key and not arguments.secret:
        parser.error("--secret-key needs --secret")
    return arguments


def load_documents(path):
    with open(path, encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


def check_container_security(checker, where, pod_spec, container):
    """The restricted profile, wherever Kubernetes takes each field from (the container's own
    securityContext wins over the pod's)."""
    pod_context = pod_spec.get("securityContext") or {}
    context = container.get("securityContext") or {}

    def effective(field):
        return context[field] if field in context else pod_context.get(field)

    checker.equal(True, effective("runAsNonRoot"), f"{where}: runAsNonRoot")
    run_as_user = effective("runAsUser")
    checker.check(isinstance(run_as_user, int) and run_as_user != 0, f"{where}: runAsUser is a non-root uid",
                  f"rendered {run_as_user!r}")
    checker.equal(True, context.get("readOnlyRootFilesystem"), f"{where}: readOnlyRootFilesystem")
    checker.equal(False, context.get("allowPrivilegeEscalation"), f"{where}: allowPrivilegeEscalation")
    checker.check(context.get("privileged") in (None, False), f"{where}: not privileged",
                  f"rendered {context.get('privileged')!r}")
    drop = dig(context, "capabilities", "drop") or []
    checker.check("ALL" in drop, f"{where}: capabilities drop ALL", f"rendered drop {drop!r}")
    checker.check(not dig(context, "capabilities", "add"), f"{where}: no capability added",
                  f"rendered add {dig(context, 'capabilities', 'add')!r}")
    seccomp = dig(context, "seccompProfile", "type") or dig(pod_context, "seccompProfile", "type")
    checker.equal("RuntimeDefault", seccomp, f"{where}: seccomp profile")


def check_credentials(checker, where, container, arguments):
    env = container.get("env") or []
    for pair in arguments.secret_key:
        variable, key = pair.split("=", 1)
        entry = by_name(env, variable)
        reference = dig(entry, "valueFrom", "secretKeyRef")
        if checker.check(reference is not None, f"{where}: {variable} from a secretKeyRef",
                         f"rendered {entry!r}"):
            checker.equal(arguments.secret, reference.get("name"), f"{where}: {variable} from Secret {arguments.secret}")
            checker.equal(key, reference.get("key"), f"{where}: {variable} under key {key}")
        checker.check(entry is None or "value" not in entry, f"{where}: {variable} has no literal value")
    for variable in arguments.absent_variable:
        checker.check(by_name(env, variable) is None, f"{where}: no {variable}",
                      f"rendered {by_name(env, variable)!r}")
    references = [entry for entry in env if dig(entry, "valueFrom", "secretKeyRef")]
    if not arguments.secret:
        checker.check(not references, f"{where}: no secretKeyRef without existingSecret",
                      f"rendered {[entry.get('name') for entry in references]}")
    else:
        foreign = [entry["name"] for entry in references
                   if dig(entry, "valueFrom", "secretKeyRef", "name") != arguments.secret]
        checker.check(not foreign, f"{where}: every secretKeyRef names {arguments.secret}", f"others: {foreign}")


def check_config_mount(checker, where, container, volumes, config_map_name):
    mount = next((m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/etc/kafka-pg-sink"), None)
    if checker.check(mount is not None, f"{where}: the config directory /etc/kafka-pg-sink is mounted"):
        volume = by_name(volumes, mount.get("name"))
        checker.equal(config_map_name, dig(volume, "configMap", "name"), f"{where}: from the chart's ConfigMap")
    args = container.get("args") or []
    checker.check(args[:2] == ["--config", "/etc/kafka-pg-sink/config.yaml"],
                  f"{where}: started with --config /etc/kafka-pg-sink/config.yaml", f"rendered args {args!r}")
    tmp = next((m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"), None)
    checker.check(tmp is not None and "emptyDir" in (by_name(volumes, tmp.get("name")) or {}),
                  f"{where}: /tmp is a writable emptyDir (the root filesystem is read-only)")


def check_dashboard(checker, dashboard_maps, arguments):
    if not arguments.dashboard:
        checker.equal(0, len(dashboard_maps), "no dashboard ConfigMap")
        return
    if not checker.equal(1, len(dashboard_maps), "one dashboard ConfigMap"):
        return
    dashboard_map = dashboard_maps[0]
    labels = dig(dashboard_map, "metadata", "labels") or {}
    for pair in arguments.dashboard_label:
        key, value = pair.split("=", 1)
        checker.equal(value, labels.get(key), f"dashboard ConfigMap: label {key} (the Grafana sidecar's selector)")
    for key in arguments.absent_dashboard_label:
        checker.check(key not in labels, f"dashboard ConfigMap: no label {key}", f"rendered {labels.get(key)!r}")
    try:
        dashboard = json.loads(dig(dashboard_map, "data", kDashboardKey))
    except ValueError as error:
        checker.check(False, "dashboard ConfigMap: the dashboard is valid JSON", str(error))
        return
    panels = [panel for panel in dashboard.get("panels") or [] if panel.get("type") != "row"]
    checker.check(len(panels) >= 10, "dashboard: its panels are there", f"{len(panels)} panels")
    variables = [variable.get("name") for variable in dig(dashboard, "templating", "list") or []]
    checker.check({"datasource", "namespace", "pod"} <= set(variables),
                  "dashboard: datasource, namespace and pod variables", f"variables {variables}")
    without_datasource = [panel.get("title") for panel in panels
                          if dig(panel, "datasource", "uid") != "${datasource}"]
    checker.check(not without_datasource, "dashboard: every panel queries the chosen data source",
                  f"others: {without_datasource}")


def readme_anchors(path):
    """GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped,
    spaces to hyphens."""
    anchors = set()
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if heading:
                text = re.sub(r"[^\w\- ]", "", heading.group(1).lower())
                anchors.add(text.replace(" ", "-"))
    return anchors


def check_prometheus_rule(checker, rules, arguments):
    if not arguments.prometheus_rule:
        checker.equal(0, len(rules), "no PrometheusRule")
        return
    if not checker.equal(1, len(rules), "one PrometheusRule"):
        return
    rule_object = rules[0]
    checker.equal("monitoring.coreos.com/v1", rule_object.get("apiVersion"), "PrometheusRule apiVersion")
    alerts = [rule for group in dig(rule_object, "spec", "groups") or [] for rule in group.get("rules") or []]
    checker.equal(sorted(kAlerts), sorted(rule.get("alert") for rule in alerts), "PrometheusRule: the alerts")
    anchors = readme_anchors(arguments.readme)
    for alert in alerts:
        name = alert.get("alert")
        checker.check(bool(dig(alert, "labels", "severity")), f"{name}: has a severity")
        annotations = alert.get("annotations") or {}
        missing = [key for key in ("summary", "description", "runbook_url") if not annotations.get(key)]
        checker.check(not missing, f"{name}: summary, description and runbook_url", f"missing {missing}")
        anchor = str(annotations.get("runbook_url", "")).rpartition("#")[2]
        checker.check(anchor in anchors, f"{name}: runbook anchor #{anchor} is a heading of {arguments.readme}")


def main():
    arguments = parse_arguments()
    try:
        documents = load_documents(arguments.rendered)
    except (OSError, yaml.YAMLError) as error:
        print(f"check-manifests: cannot read {arguments.rendered}: {error}", file=sys.stderr)
        return 2
    checker = Checker()

    def of_kind(kind):
        return [document for document in documents if document.get("kind") == kind]

    statefulsets = of_kind("StatefulSet")
    # The daemon's config and, optionally, the dashboard's: told apart by what they hold.
    config_maps = [m for m in of_kind("ConfigMap") if kConfigKey in (m.get("data") or {})]
    dashboard_maps = [m for m in of_kind("ConfigMap") if kDashboardKey in (m.get("data") or {})]
    checker.equal(len(of_kind("ConfigMap")), len(config_maps) + len(dashboard_maps),
                  "every ConfigMap is the config's or the dashboard's")
    if not (checker.equal(1, len(statefulsets), "one StatefulSet") and
            checker.equal(1, len(config_maps), f"one ConfigMap holding {kConfigKey}")):
        return 1
    statefulset, config_map = statefulsets[0], config_maps[0]

    # The daemon's config as a pod reads it: the chart's own checks below compare against it.
    config_text = dig(config_map, "data", kConfigKey)
    if not checker.check(isinstance(config_text, str), f"the ConfigMap holds {kConfigKey}"):
        return 1
    config = yaml.safe_load(config_text) or {}
    if arguments.config_out:
        with open(arguments.config_out, "w", encoding="utf-8") as stream:
            stream.write(config_text)
    checker.equal(arguments.log_format, dig(config, "log", "format") or kDefaultLogFormat,
                  "config: log.format")
    listen = str(dig(config, "http", "listen") or "0.0.0.0:8080")
    checker.equal(arguments.http_port, int(listen.rsplit(":", 1)[-1]), "config: http.listen's port")

    spec = statefulset.get("spec") or {}
    pod_spec = dig(spec, "template", "spec") or {}
    pod_labels = dig(spec, "template", "metadata", "labels") or {}
    checker.equal(arguments.replicas, spec.get("replicas"), "StatefulSet replicas")
    selector = dig(spec, "selector", "matchLabels") or {}
    checker.check(selector and all(pod_labels.get(k) == v for k, v in selector.items()),
                  "the StatefulSet's selector matches its pod labels", f"selector {selector}, labels {pod_labels}")

    container = by_name(pod_spec.get("containers"), kContainerName)
    if not checker.check(container is not None, f"container {kContainerName}"):
        return 1
    where = f"StatefulSet container {kContainerName}"
    port = by_name(container.get("ports"), "http")
    checker.equal(arguments.http_port, dig(port, "containerPort"), f"{where}: port http")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = dig(container, probe, "httpGet")
        if checker.check(get is not None, f"{where}: {probe} is an HTTP GET", f"rendered {container.get(probe)!r}"):
            checker.equal(path, get.get("path"), f"{where}: {probe} path")
            checker.check(get.get("port") in ("http", arguments.http_port), f"{where}: {probe} on the http port",
                          f"rendered port {get.get('port')!r}")
    check_container_security(checker, where, pod_spec, container)
    check_credentials(checker, where, container, arguments)
    checker.equal("FallbackToLogsOnError", container.get("terminationMessagePolicy"),
                  f"{where}: the log's last lines are the termination message (the runbooks read it)")
    volumes = pod_spec.get("volumes") or []
    check_config_mount(checker, where, container, volumes, dig(config_map, "metadata", "name"))
    checker.equal(False, pod_spec.get("automountServiceAccountToken"), "no service account token mounted")

    # SIGKILL comes terminationGracePeriodSeconds after SIGTERM; the drain may take all of
    # shutdown_timeout_ms.
    grace = pod_spec.get("terminationGracePeriodSeconds")
    shutdown_ms = dig(config, "shutdown_timeout_ms") or kDefaultShutdownTimeoutMs
    checker.check(isinstance(grace, int) and grace > shutdown_ms / 1000,
                  f"terminationGracePeriodSeconds ({grace}) > shutdown_timeout_ms/1000 ({shutdown_ms / 1000:g})")

    state_dir = dig(config, "state", "dir") or kDefaultStateDir
    state_mount = next((m for m in container.get("volumeMounts") or [] if m.get("mountPath") == state_dir), None)
    if checker.check(state_mount is not None, f"{where}: state.dir {state_dir} is mounted"):
        claims = [dig(claim, "metadata", "name") for claim in spec.get("volumeClaimTemplates") or []]
        state_volume = by_name(volumes, state_mount.get("name"))
        if arguments.persistence == "pvc":
            checker.check(state_mount.get("name") in claims, "state on a PersistentVolumeClaim template",
                          f"claims {claims}, mount {state_mount.get('name')!r}")
            checker.check(state_volume is None, "no pod volume shadows the claim", f"rendered {state_volume!r}")
        else:
            checker.check(not claims, "no PersistentVolumeClaim template", f"rendered {claims}")
            if checker.check(state_volume is not None and "emptyDir" in state_volume, "state on an emptyDir",
                             f"rendered {state_volume!r}"):
                checker.equal(arguments.empty_dir_size_limit or None,
                              (state_volume["emptyDir"] or {}).get("sizeLimit"), "the emptyDir's size limit")

    budgets = of_kind("PodDisruptionBudget")
    if checker.equal(1, len(budgets), "one PodDisruptionBudget"):
        budget = budgets[0].get("spec") or {}
        checker.check("maxUnavailable" in budget or "minAvailable" in budget,
                      "the PodDisruptionBudget bounds disruptions", f"rendered {budget!r}")
        budget_selector = dig(budget, "selector", "matchLabels") or {}
        checker.check(budget_selector and all(pod_labels.get(k) == v for k, v in budget_selector.items()),
                      "the PodDisruptionBudget selects the pods", f"selector {budget_selector}")

    services = of_kind("Service")
    if checker.equal(1, len(services), "one Service"):
        service = services[0]
        checker.equal(dig(service, "metadata", "name"), spec.get("serviceName"), "the StatefulSet's serviceName")
        service_port = by_name(dig(service, "spec", "ports"), "http")
        checker.check(service_port is not None and service_port.get("targetPort") in ("http", arguments.http_port),
                      "the Service exposes the http port", f"rendered {service_port!r}")

    monitors = of_kind("ServiceMonitor")
    if arguments.service_monitor:
        if checker.equal(1, len(monitors), "one ServiceMonitor"):
            endpoint = dig(monitors[0], "spec", "endpoints", 0) or {}
            checker.equal("http", endpoint.get("port"), "the ServiceMonitor scrapes port http")
            checker.equal("/metrics", endpoint.get("path"), "the ServiceMonitor scrapes /metrics")
    else:
        checker.equal(0, len(monitors), "no ServiceMonitor")

    check_dashboard(checker, dashboard_maps, arguments)
    check_prometheus_rule(checker, of_kind("PrometheusRule"), arguments)

    # The helm test pod runs the same image on the same config: it gets the same restrictions.
    test_pods = [pod for pod in of_kind("Pod") if "helm.sh/hook" in (dig(pod, "metadata", "annotations") or {})]
    if checker.equal(1, len(test_pods), "one helm test pod"):
        test_spec = test_pods[0].get("spec") or {}
        test_container = (test_spec.get("containers") or [None])[0] or {}
        checker.check("--check-config" in (test_container.get("args") or []), "the helm test runs --check-config")
        check_container_security(checker, "helm test pod", test_spec, test_container)
        check_credentials(checker, "helm test pod", test_container, arguments)
        check_config_mount(checker, "helm test pod", test_container, test_spec.get("volumes") or [],
                           dig(config_map, "metadata", "name"))

    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
