#!/usr/bin/env python3
"""Checks that every kafka_pg_sink_* metric the Grafana dashboard and the alerting rules query is
one the daemon exports, so that renaming or dropping a metric fails CI instead of leaving an empty
panel or an alert that can never fire. Called by docker/check-helm.sh:

  check-dashboard-metrics.py --source-dir connector [--metrics-text SCRAPED.txt]
      [--dashboard FILE.json ...]
      [--rules FILE.yaml ...] [--not-yet-exported NAME ...] [--dashboard-as-rules OUT.yaml]

The exported names come from a running daemon when --metrics-text gives what its /metrics served
(every `# TYPE` line: SinkMetrics declares each family at construction, so a daemon that has
only started serves them all), and from the daemon's source otherwise: every registration call
with a literal name (`counter_family("kafka_pg_sink_...", ...)`, `gauge(...)`,
`histogram_family(...)`, ...) in the .h and .cpp files of --source-dir. The source also gives the
labels, so it is always parsed; with both, the two lists of names must agree, which keeps the
source parser honest. A counter or gauge is exported under its name; a
histogram only as NAME_bucket, NAME_sum and NAME_count, so a query on the bare histogram name
(which returns nothing in Prometheus) fails too. Labels are checked as well: a label matcher on a
kafka_pg_sink_* metric (`{topic="..."}`), and the labels of `by (...)` / `without (...)` in a
query that reads only kafka_pg_sink_* metrics, must be labels the daemon gives one of them (the
last {...} of the registration call) or labels Prometheus adds to a scraped target (namespace,
pod, job, instance, ...; `le` on _bucket series).

--dashboard takes a Grafana dashboard JSON (every "expr", "query" and "definition" string: panel
targets and template variables); --rules a Prometheus rules file or rendered manifests holding a
PrometheusRule (every rule's expr). String literals are removed from the queries first, so a
label value that happens to start with kafka_pg_sink_ is not taken for a metric.

--dashboard-as-rules OUT writes the panels' queries as Prometheus recording rules, Grafana's
variables replaced by sample values, so that `promtool check rules OUT` proves they parse.

--not-yet-exported NAME accepts a name that a change in progress will add; once the source
registers it, the flag is stale and the check fails until it is removed.

Prints one line per metric; exits 1 when a metric is not exported (or a flag is stale), 2 on bad
usage or unreadable input.
"""

import argparse
import json
import pathlib
import re
import sys

import yaml

kPrefix = "kafka_pg_sink_"
# A registration call with a literal metric name; the name may sit on the next line.
kRegistration = re.compile(
    r"\b(counter_family|gauge_family|histogram_family|counter|gauge|histogram)\s*\(\s*\"([A-Za-z_:][A-Za-z0-9_:]*)\"")
kHistogramSuffixes = ("_bucket", "_sum", "_count")
# PromQL string literals: double-, single- and back-quoted.
kStringLiteral = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
kMetricName = re.compile(r"(?<![A-Za-z0-9_:])(" + kPrefix + r"[A-Za-z0-9_:]*)")
# A kafka_pg_sink_* metric with its label matchers (string literals already emptied).
kSelector = re.compile(r"(?<![A-Za-z0-9_:])(" + kPrefix + r"[A-Za-z0-9_:]*)\s*\{([^}]*)\}")
kMatcherLabel = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
kGrouping = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Any other metric a query may combine ours with (kube-state-metrics'): its labels are not ours.
kForeignMetric = re.compile(r"(?<![A-Za-z0-9_:])kube_[A-Za-z0-9_:]*")
# Labels Prometheus and the Prometheus Operator attach to every series of a scraped target.
kTargetLabels = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}


def call_arguments(text, start):
    """The text between the parenthesis opening at `start` and its match, string literals
    skipped while matching."""
    depth = 0
    index = start
    while index < len(text):
        character = text[index]
        if character == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:index]
        index += 1
    raise ValueError("unbalanced parentheses after a metric registration")


def label_names(arguments):
    """The string literals of the last top-level {...} among a registration's arguments: its
    label names (`{"topic", "table"}`, or `{{"version", version}}` for name-value pairs)."""
    if not arguments.rstrip().endswith("}"):
        return set()
    depth = 0
    for index in range(len(arguments.rstrip()) - 1, -1, -1):
        depth += {"}": 1, "{": -1}.get(arguments[index], 0)
        if depth == 0:
            braces = arguments[index + 1:].rstrip()[:-1]
            if "{" in braces:  # {{"name", value}, ...}: the first literal of each pair
                return set(re.findall(r"\{\s*\"([^\"]*)\"", braces))
            return set(re.findall(r"\"([^\"]*)\"", braces))
    raise ValueError("unbalanced braces in a metric registration")


def exported_series(source_dir):
    """{series name: (metric name, type, label names)} for every kafka_pg_sink_* registration
    in source_dir."""
    series = {}
    for path in sorted(list(source_dir.glob("*.cpp")) + list(source_dir.glob("*.h"))):
        text = path.read_text(encoding="utf-8")
        for match in kRegistration.finditer(text):
            call, name = match.groups()
            if not name.startswith(kPrefix):
                continue
            kind = call.split("_")[0]
            labels = label_names(call_arguments(text, text.index("(", match.start())))
            names = [name + suffix for suffix in kHistogramSuffixes] if kind == "histogram" else [name]
            for exported in names:
                series[exported] = (name, kind, labels | ({"le"} if exported.endswith("_bucket") else set()))
    return series


def scraped_families(path):
    """{metric name: type} from the # TYPE lines of a Prometheus text exposition."""
    families = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            parts = line.split()
            if len(parts) == 4 and parts[:2] == ["#", "TYPE"] and parts[2].startswith(kPrefix):
                families[parts[2]] = parts[3]
    return families


def label_problems(query, exported):
    """Labels the query selects or groups by that none of its kafka_pg_sink_* series carries."""
    query = kStringLiteral.sub('""', query)
    problems = []
    for name, matchers in kSelector.findall(query):
        if name not in exported:
            continue  # reported as an unknown metric
        allowed = exported[name][2] | kTargetLabels
        problems += [f"{name} has no label {label}" for label in kMatcherLabel.findall(matchers)
                     if label not in allowed]
    names = [name for name in kMetricName.findall(query) if name in exported]
    if names and not kForeignMetric.search(query):
        allowed = set(kTargetLabels).union(*(exported[name][2] for name in names))
        for grouping in kGrouping.findall(query):
            problems += [f"no series of {', '.join(sorted(set(names)))} has the label {label} it groups by"
                         for label in (part.strip() for part in grouping.split(",")) if label and label not in allowed]
    return problems


def strings_under(node, keys, where, found):
    """Appends (where, text) for every string under one of `keys` anywhere in a JSON tree."""
    if isinstance(node, dict):
        title = node.get("title")
        here = f"{where} / {title}" if isinstance(title, str) and title else where
        for key, value in node.items():
            if key in keys:
                if isinstance(value, str):
                    found.append((here, value))
                elif isinstance(value, dict) and isinstance(value.get("query"), str):
                    found.append((here, value["query"]))  # a template variable's {"query": ...}
            strings_under(value, keys, here, found)
    elif isinstance(node, list):
        for item in node:
            strings_under(item, keys, where, found)


def dashboard_queries(path):
    with open(path, encoding="utf-8") as stream:
        dashboard = json.load(stream)
    found = []
    strings_under(dashboard, {"expr", "query", "definition"}, path.name, found)
    return found


# Sample values for Grafana's variables, so a panel query becomes plain PromQL.
kGrafanaVariables = {"$__rate_interval": "2m", "$__interval": "30s", "$__range": "1h",
                     "$namespace": "default", "$pod": ".*", "${datasource}": "prometheus"}


def write_dashboard_rules(dashboards, out):
    rules = []
    for path in dashboards:
        with open(path, encoding="utf-8") as stream:
            found = []
            strings_under(json.load(stream), {"expr"}, path.name, found)
        for index, (where, query) in enumerate(found):
            for variable, value in kGrafanaVariables.items():
                query = query.replace(variable, value)
            if "$" in query:
                raise ValueError(f"{where}: a Grafana variable without a sample value: {query}")
            rules.append({"record": f"dashboard:query_{len(rules)}", "expr": query})
    with open(out, "w", encoding="utf-8") as stream:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, stream, sort_keys=False)


def rule_queries(path):
    with open(path, encoding="utf-8") as stream:
        documents = [document for document in yaml.safe_load_all(stream) if document]
    groups = []
    for document in documents:
        if document.get("kind") == "PrometheusRule":
            groups += (document.get("spec") or {}).get("groups") or []
        elif "groups" in document:
            groups += document["groups"] or []
    found = []
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "?"
            if isinstance(rule.get("expr"), str):
                found.append((f"{path.name} / {group.get('name')} / {name}", rule["expr"]))
    return found


def metrics_in(query):
    return set(kMetricName.findall(kStringLiteral.sub('""', query)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", required=True, type=pathlib.Path,
                        help="the daemon's connector/ directory")
    parser.add_argument("--metrics-text", type=pathlib.Path,
                        help="what a running daemon's /metrics served: the authority on names and types")
    parser.add_argument("--dashboard", action="append", default=[], type=pathlib.Path)
    parser.add_argument("--rules", action="append", default=[], type=pathlib.Path)
    parser.add_argument("--not-yet-exported", action="append", default=[], metavar="NAME")
    parser.add_argument("--dashboard-as-rules", type=pathlib.Path, metavar="OUT",
                        help="write the dashboards' panel queries as recording rules for promtool")
    arguments = parser.parse_args()
    if not arguments.dashboard and not arguments.rules:
        parser.error("give at least one --dashboard or --rules")

    try:
        exported = exported_series(arguments.source_dir)
        scraped = scraped_families(arguments.metrics_text) if arguments.metrics_text else None
        if scraped is not None and not scraped:
            raise ValueError(f"{arguments.metrics_text}: no # TYPE line of a {kPrefix}* metric")
        queries = []
        for path in arguments.dashboard:
            found = dashboard_queries(path)
            if not found:
                raise ValueError(f"{path}: no queries found (no \"expr\" in any panel)")
            queries += found
        for path in arguments.rules:
            found = rule_queries(path)
            if not found:
                raise ValueError(f"{path}: no rule with an expr found")
            queries += found
        if arguments.dashboard_as_rules:
            write_dashboard_rules(arguments.dashboard, arguments.dashboard_as_rules)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"check-dashboard-metrics: {error}", file=sys.stderr)
        return 2
    if not exported:
        print(f"check-dashboard-metrics: no {kPrefix}* registration found in {arguments.source_dir}",
              file=sys.stderr)
        return 2

    used = {}
    for where, query in queries:
        for name in metrics_in(query):
            used.setdefault(name, []).append(where)
    if not used:
        print(f"check-dashboard-metrics: no {kPrefix}* metric in any query", file=sys.stderr)
        return 2

    failures = 0
    if scraped is not None:
        # The running daemon decides; the source parse must have found the same families.
        from_source = {metric: kind for metric, kind, _ in exported.values()}
        for name in sorted(set(scraped) | set(from_source)):
            if scraped.get(name) != from_source.get(name):
                failures += 1
                print(f"  FAIL  {name}: the running daemon exports it as {scraped.get(name)}, the source parse "
                      f"found {from_source.get(name)}", file=sys.stderr)
        exported = {series: entry for series, entry in exported.items() if entry[0] in scraped}
        print(f"  ok    {len(scraped)} metric families from the running daemon's /metrics")
    histograms = {metric for metric, kind, _ in exported.values() if kind == "histogram"}
    for name in sorted(used):
        places = used[name]
        if name in exported:
            print(f"  ok    {name} ({len(places)} queries)")
        elif name in arguments.not_yet_exported:
            print(f"  ok    {name} (not exported yet: --not-yet-exported; {len(places)} queries)")
        else:
            failures += 1
            hint = (" (a histogram: query NAME_bucket, NAME_sum or NAME_count)" if name in histograms
                    else "")
            print(f"  FAIL  {name} is not a metric the daemon exports{hint}; used in: "
                  + "; ".join(sorted(set(places))), file=sys.stderr)
    for where, query in queries:
        for problem in label_problems(query, exported):
            failures += 1
            print(f"  FAIL  {problem}; in: {where}", file=sys.stderr)
    for name in arguments.not_yet_exported:
        if name in exported:
            failures += 1
            print(f"  FAIL  {name} is exported now: drop --not-yet-exported {name}", file=sys.stderr)
    print(f"check-dashboard-metrics: {len(used)} metric names in {len(queries)} queries, "
          f"{len(exported)} series names exported, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
