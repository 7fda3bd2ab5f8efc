{{/* Chart name. */}}
{{- define "modaline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every resource name (kept short enough for a "-cyclegan" suffix). */}}
{{- define "modaline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modaline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels on every resource. */}}
{{- define "modaline.labels" -}}
helm.sh/chart: {{ include "modaline.chart" . }}
{{ include "modaline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modaline
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that identify the release's pods (never change them: selectors are immutable). */}}
{{- define "modaline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modaline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component. Call with (dict "root" $ "component" "api" "tier" "gateway").
tier groups components for NetworkPolicies: gateway (api, runner), worker (llm, ...), database.
*/}}
{{- define "modaline.componentSelectorLabels" -}}
{{ include "modaline.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
modaline.io/tier: {{ .tier }}
{{- end }}

{{- define "modaline.componentLabels" -}}
{{ include "modaline.labels" .root }}
app.kubernetes.io/component: {{ .component }}
modaline.io/tier: {{ .tier }}
{{- end }}

{{- define "modaline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modaline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference: (dict "root" $ "image" .Values.images.gateway) */}}
{{- define "modaline.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* The Secret holding OPENROUTER_API_KEY and HF_TOKEN. */}}
{{- define "modaline.keysSecretName" -}}
{{- default (include "modaline.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret and key holding DATABASE_URL. */}}
{{- define "modaline.databaseSecretName" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- include "modaline.fullname" . }}
{{- end }}
{{- end }}

{{- define "modaline.databaseSecretKey" -}}
{{- if and (not .Values.postgresql.enabled) .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else -}}
DATABASE_URL
{{- end }}
{{- end }}

{{/* The Secret holding MODALINE_SIGNING_KEY (and MODALINE_BOOTSTRAP_ADMIN_KEY when there is one). */}}
{{- define "modaline.authSecretName" -}}
{{- default (include "modaline.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/* Does the chart create its own Secret? (keys not external, the bundled database, database.url to store,
or the auth keys to store) */}}
{{- define "modaline.createsSecret" -}}
{{- $s := .Values.files.objectStorage }}
{{- if or (not .Values.secrets.existingSecret) .Values.postgresql.enabled (not .Values.database.existingSecret) (and .Values.auth.enabled (not .Values.auth.existingSecret)) (and $s.url (not $s.existingSecret) $s.accessKeyId) -}}
true
{{- end }}
{{- end }}

{{/* The gateway's auth environment from the Secret: (dict "root" $ "bootstrap" true|false). Nothing when
auth is off. */}}
{{- define "modaline.authEnv" -}}
{{- if .root.Values.auth.enabled }}
- name: MODALINE_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "modaline.authSecretName" .root }}
      key: MODALINE_SIGNING_KEY
{{- if .bootstrap }}
- name: MODALINE_BOOTSTRAP_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "modaline.authSecretName" .root }}
      key: MODALINE_BOOTSTRAP_ADMIN_KEY
      optional: true
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for object storage, or nothing (the pods'
own identity). */}}
{{- define "modaline.objectStorageSecretName" -}}
{{- $s := .Values.files.objectStorage }}
{{- if $s.existingSecret }}
{{- $s.existingSecret }}
{{- else if $s.accessKeyId }}
{{- include "modaline.fullname" . }}
{{- end }}
{{- end }}

{{/* Where files live, for the gateway and every worker alike: MODALINE_FILES_URL and the AWS variables with
object storage, nothing with the shared volume (MODALINE_FILES_ROOT is set beside the mount). */}}
{{- define "modaline.filesEnv" -}}
{{- $s := .Values.files.objectStorage }}
{{- if $s.url }}
- name: MODALINE_FILES_URL
  value: {{ $s.url | quote }}
{{- with $s.endpoint }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $s.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with include "modaline.objectStorageSecretName" . }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end }}
{{- end }}

{{- define "modaline.filesClaimName" -}}
{{- default (printf "%s-files" (include "modaline.fullname" .)) .Values.files.existingClaim }}
{{- end }}

{{- define "modaline.postgresqlHost" -}}
{{- printf "%s-postgresql" (include "modaline.fullname" .) }}
{{- end }}

{{/* Host name of one worker's Service: (dict "root" $ "name" "llm") */}}
{{- define "modaline.workerHost" -}}
{{- printf "%s-%s" (include "modaline.fullname" .root) .name }}
{{- end }}

{{/* The settings of one worker: workerDefaults with workers.<name> merged over them, as YAML. */}}
{{- define "modaline.workerValues" -}}
{{- $merged := mergeOverwrite (deepCopy .root.Values.workerDefaults) (deepCopy .worker) }}
{{- $local := .root.Values.localEngines.enabled }}
{{- if hasKey .worker "local" }}{{- if not (kindIs "invalid" .worker.local) }}{{ $local = .worker.local }}{{- end }}{{- end }}
{{- $_ := set $merged "local" $local }}
{{- toYaml $merged }}
{{- end }}

{{/* Pod-level settings shared by every Deployment/StatefulSet. */}}
{{- define "modaline.podCommon" -}}
serviceAccountName: {{ include "modaline.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A number as Kubernetes wants it: Helm reads every number in values as a float, which would print
52428800 as 5.24288e+07; whole numbers print as integers, anything else unchanged. */}}
{{- define "modaline.num" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* name: value map -> env list */}}
{{- define "modaline.envList" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ include "modaline.num" $value | quote }}
{{- end }}
{{- end }}

{{/* Refuse value combinations that would install but not work. */}}
{{- define "modaline.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.database.existingSecret) (not .Values.database.url) }}
{{- fail "postgresql.enabled=false needs database.url or database.existingSecret (the gateway's PostgreSQL)" }}
{{- end }}
{{- if and .Values.postgresql.enabled (or .Values.database.url .Values.database.existingSecret) }}
{{- fail "database.url / database.existingSecret are for an external PostgreSQL: set postgresql.enabled=false too" }}
{{- end }}
{{- $enabled := 0 }}
{{- range $name, $w := .Values.workers }}{{ if $w.enabled }}{{ $enabled = add1 $enabled }}{{ end }}{{ end }}
{{- if eq $enabled 0 }}
{{- fail "every worker is disabled: enable at least one under `workers`" }}
{{- end }}
{{- $files := .Values.files.objectStorage }}
{{- if and $files.url .Values.files.existingClaim }}
{{- fail "files.existingClaim is a shared volume, files.objectStorage.url a bucket: choose one (with a bucket no volume is mounted)" }}
{{- end }}
{{- if and (eq $files.download "redirect") (not $files.url) }}
{{- fail "files.objectStorage.download=redirect needs files.objectStorage.url: a shared volume has no presigned URLs" }}
{{- end }}
{{- if and $files.url (not $files.existingSecret) (ne (empty $files.accessKeyId) (empty $files.secretAccessKey)) }}
{{- fail "files.objectStorage.accessKeyId and secretAccessKey go together (or use existingSecret, or neither for the pods' identity)" }}
{{- end }}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) (not .Values.auth.signingKey) }}
{{- fail "auth.enabled=true needs a signing key: set auth.signingKey (python3 -c 'import secrets; print(secrets.token_urlsafe(32))') or auth.existingSecret (a Secret with MODALINE_SIGNING_KEY); or auth.enabled=false" }}
{{- end }}
{{- /* /metrics needs no key: no Ingress path may reach it (Exact /metrics, a Prefix of / or /metrics, an
ImplementationSpecific path that is a prefix of /metrics). */}}
{{- if .Values.ingress.enabled }}
{{- range $host := .Values.ingress.hosts }}
{{- range $p := ($host.paths | default $.Values.ingress.paths) }}
{{- $path := $p.path }}
{{- $trimmed := trimSuffix "/" $path }}
{{- $routes := false }}
{{- if eq $p.pathType "Exact" }}{{ $routes = or (eq $path "/metrics") (eq $path "/metrics/") }}{{ end }}
{{- if eq $p.pathType "Prefix" }}{{ $routes = or (eq $trimmed "") (eq $trimmed "/metrics") }}{{ end }}
{{- if eq $p.pathType "ImplementationSpecific" }}{{ $routes = hasPrefix $path "/metrics" }}{{ end }}
{{- if $routes }}
{{- fail (printf "ingress path %s (%s) on host %s would route /metrics, which needs no key and must stay inside the cluster: list the public paths instead (see ingress.paths)" $path $p.pathType $host.host) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Log format and traces for one process: (dict "root" $ "service" "modaline-gateway"). */}}
{{- define "modaline.telemetryEnv" -}}
{{- $o := .root.Values.observability }}
{{- if ne $o.logFormat "json" }}{{/* json is every process's default */}}
- name: MODALINE_LOG_FORMAT
  value: {{ $o.logFormat | quote }}
{{- end }}
{{- with $o.tracing }}
{{- if .otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .otlpEndpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ $.service | quote }}
{{- with .sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Data lifecycle (values `retention`) for one gateway container: the janitor's settings where it runs
(role runner, or all), the free-space floor on every gateway pod. Unset values stay out: the built-in default
applies. */}}
{{- define "modaline.retentionEnv" -}}
{{- $r := .root.Values.retention | default dict }}
{{- if ne .role "api" }}
{{- range $key, $env := dict "days" "MODALINE_RETENTION_DAYS" "uploadTtlHours" "MODALINE_UPLOAD_TTL_HOURS" "janitorIntervalSeconds" "MODALINE_JANITOR_INTERVAL_SECONDS" }}
{{- $value := index $r $key }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $env }}
  value: {{ include "modaline.num" $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $r.minFreeBytes) }}
- name: MODALINE_MIN_FREE_BYTES
  value: {{ include "modaline.num" $r.minFreeBytes | quote }}
{{- end }}
{{- end }}
