{{/* The chart name, or nameOverride. */}}
{{- define "mcpproxy-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: fullnameOverride, or release-chart (just the release name when it already contains the chart name). */}}
{{- define "mcpproxy-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "mcpproxy-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcpproxy-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the manager pod. */}}
{{- define "mcpproxy-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpproxy-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the manager runs as. */}}
{{- define "mcpproxy-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcpproxy-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The manager image reference: by digest when one is given. */}}
{{- define "mcpproxy-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Secret holding the token encryption key file. */}}
{{- define "mcpproxy-operator.keySecretName" -}}
{{- .Values.encryption.existingSecret | default (printf "%s-token-key" (include "mcpproxy-operator.fullname" .)) }}
{{- end }}

{{/* The key of that Secret. */}}
{{- define "mcpproxy-operator.keySecretKey" -}}
{{- if .Values.encryption.existingSecret }}{{ .Values.encryption.existingSecretKey }}{{ else }}key{{ end }}
{{- end }}

{{/* The PersistentVolumeClaim of the token store. */}}
{{- define "mcpproxy-operator.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-tokens" (include "mcpproxy-operator.fullname" .)) }}
{{- end }}

{{/* Rules of a Role or ClusterRole manifest copied into files/rbac/ by `make helm-sync`. */}}
{{- define "mcpproxy-operator.copiedRules" -}}
{{- $role := .context.Files.Get (printf "files/rbac/%s" .file) | fromYaml }}
{{- if or (not $role) (hasKey $role "Error") (not $role.rules) }}
{{- fail (printf "files/rbac/%s is missing or has no rules: run make helm-sync" .file) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* A manifest copied into files/ by `make helm-sync`, as YAML; fails when it is missing. */}}
{{- define "mcpproxy-operator.copiedManifest" -}}
{{- $obj := .context.Files.Get (printf "files/%s" .file) | fromYaml }}
{{- if or (not $obj) (hasKey $obj "Error") (not $obj.spec) }}
{{- fail (printf "files/%s is missing or has no spec: run make helm-sync" .file) }}
{{- end }}
{{- toYaml $obj }}
{{- end }}
