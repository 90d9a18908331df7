{{/* The chart name, shortened to fit a DNS label. */}}
{{- define "kafka-pg-sink.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name. StatefulSet pods append "-<ordinal>" and their PVCs "state-" and
"-<ordinal>", so the name is kept to 52 characters to leave room for both within 63.
*/}}
{{- define "kafka-pg-sink.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kafka-pg-sink.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kafka-pg-sink.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kafka-pg-sink.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kafka-pg-sink.labels" -}}
helm.sh/chart: {{ include "kafka-pg-sink.chart" . }}
{{ include "kafka-pg-sink.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kafka-pg-sink.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kafka-pg-sink.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kafka-pg-sink.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The config file's path inside the container; the ConfigMap is mounted on its directory. */}}
{{- define "kafka-pg-sink.configDir" -}}/etc/kafka-pg-sink{{- end }}
{{- define "kafka-pg-sink.configPath" -}}{{ include "kafka-pg-sink.configDir" . }}/config.yaml{{- end }}

{{/*
The daemon's config file as text: configFile verbatim when set (keeps its key order and
comments), otherwise config rendered with toYaml (keys sorted).
*/}}
{{- define "kafka-pg-sink.configText" -}}
{{- if .Values.configFile }}
{{- .Values.configFile }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}

{{/* The config as a dict, for the few keys the chart itself depends on. */}}
{{- define "kafka-pg-sink.configDict" -}}
{{- $config := include "kafka-pg-sink.configText" . | fromYaml }}
{{- if hasKey $config "Error" }}
{{- fail (printf "configFile is not valid YAML: %s" $config.Error) }}
{{- end }}
{{- toJson $config }}
{{- end }}

{{/* The state directory, where the daemon's RocksDB lives; the volume is mounted there. */}}
{{- define "kafka-pg-sink.stateDir" -}}
{{- $config := include "kafka-pg-sink.configDict" . | fromJson }}
{{- $state := $config.state | default dict }}
{{- $dir := toString ($state.dir | default "/var/lib/kafka-pg-sink") }}
{{- if not (hasPrefix "/" $dir) }}
{{- fail (printf "state.dir must be an absolute path (the chart mounts the state volume there), got %q" $dir) }}
{{- end }}
{{- $dir }}
{{- end }}

{{/*
The HTTP port, taken from config.http.listen ("host:port") so the container port, the probes
and the Service cannot drift from what the daemon listens on.
*/}}
{{- define "kafka-pg-sink.httpPort" -}}
{{- $config := include "kafka-pg-sink.configDict" . | fromJson }}
{{- $http := $config.http | default dict }}
{{- if and (hasKey $http "listen") (not $http.listen) }}
{{- fail "http.listen is empty, which turns the daemon's HTTP server off: the chart's liveness and readiness probes and the metrics Service need it" }}
{{- end }}
{{- $listen := toString ($http.listen | default "0.0.0.0:8080") }}
{{- if not (regexMatch "^.*:[0-9]+$" $listen) }}
{{- fail (printf "http.listen must be a literal \"host:port\" (the chart derives the probes' and the Service's port from it; the probes need the HTTP server on), got %q" $listen) }}
{{- end }}
{{- $port := regexFind "[0-9]+$" $listen | atoi }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "http.listen: port %d is outside 1-65535" $port) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
Refuses values that would deploy a daemon Kubernetes kills mid-shutdown: SIGKILL arrives
terminationGracePeriodSeconds after SIGTERM, and the daemon may use all of shutdown_timeout_ms
to flush and commit.
*/}}
{{- define "kafka-pg-sink.validate" -}}
{{- $config := include "kafka-pg-sink.configDict" . | fromJson }}
{{- $shutdownMs := $config.shutdown_timeout_ms | default 30000 | int64 }}
{{- $graceSeconds := .Values.terminationGracePeriodSeconds | int64 }}
{{- if ge $shutdownMs (mul $graceSeconds 1000) }}
{{- fail (printf "shutdown_timeout_ms (%d ms) must be shorter than terminationGracePeriodSeconds (%d s): raise terminationGracePeriodSeconds to at least %d, or Kubernetes kills the daemon before it has committed what is in flight" $shutdownMs $graceSeconds (add (div $shutdownMs 1000) 1)) }}
{{- end }}
{{- end }}

{{/*
The container's environment: credentials from existingSecret, then extraEnv.
*/}}
{{- define "kafka-pg-sink.env" -}}
{{- if .Values.existingSecret }}
{{- range $variable, $key := .Values.existingSecretKeys }}
{{- if $key }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
PromQL label matchers for this release's pods, in the daemon's own metrics (the ServiceMonitor's
targets carry namespace and pod) and in kube-state-metrics' per-pod series.
*/}}
{{- define "kafka-pg-sink.podSelector" -}}
{{- if .Values.prometheusRule.podSelector }}
{{- .Values.prometheusRule.podSelector }}
{{- else }}
{{- printf "namespace=%q, pod=~%q" .Release.Namespace (printf "%s-[0-9]+" (include "kafka-pg-sink.fullname" .)) }}
{{- end }}
{{- end }}
