{{- /*
The manager Deployments: the main one, and one per shard (values `shards`). Each template that
renders something per Deployment (deployment.yaml, services.yaml, pdb.yaml, pvc.yaml) ranges
over "mcpproxy-operator.workloads" and passes the named templates below a context
(dict "root" $ "shard" SHARD), where SHARD is "" for the main Deployment.
*/ -}}

{{/* The shards of each Deployment, as a list: "" (the main one) first, then each shard. */}}
{{- define "mcpproxy-operator.workloads" -}}
{{- prepend (.Values.shards | default list) "" | toJson }}
{{- end }}

{{/* The label that puts an UpstreamServer (and its credentials) on a shard; also on a shard's pods. */}}
{{- define "mcpproxy-operator.shardLabel" -}}
sharding.mcpproxy.dev/key
{{- end }}

{{/* The name of a Deployment, and the prefix of its Services, budget and claim: <fullname>[-<shard>]. */}}
{{- define "mcpproxy-operator.workloadName" -}}
{{- $fullname := include "mcpproxy-operator.fullname" .root }}
{{- if .shard }}{{ printf "%s-%s" $fullname .shard }}{{ else }}{{ $fullname }}{{ end }}
{{- end }}

{{- /*
Labels that select a Deployment's pods. The main Deployment's are the chart's selector labels,
unchanged (a Deployment's selector is immutable: changing it would break `helm upgrade`). A
shard's pods carry app.kubernetes.io/instance <release>-<shard> instead of <release>, so the
main Deployment's selector, its gateway and metrics Services and its budget never match them,
and the shard label, so `kubectl get pods -l sharding.mcpproxy.dev/key=<shard>` finds them.
*/ -}}
{{- define "mcpproxy-operator.workloadSelectorLabels" -}}
{{- if .shard -}}
app.kubernetes.io/name: {{ include "mcpproxy-operator.name" .root }}
app.kubernetes.io/instance: {{ printf "%s-%s" .root.Release.Name .shard }}
{{ include "mcpproxy-operator.shardLabel" . }}: {{ .shard }}
{{- else }}
{{- include "mcpproxy-operator.selectorLabels" .root }}
{{- end }}
{{- end }}

{{/* Labels of a Deployment's own objects: the chart's, and the shard label for a shard's. */}}
{{- define "mcpproxy-operator.workloadLabels" -}}
{{- include "mcpproxy-operator.labels" .root }}
{{- if .shard }}
{{ include "mcpproxy-operator.shardLabel" . }}: {{ .shard }}
{{- end }}
{{- end }}

{{/* The bolt token store's claim of a Deployment: persistence.existingClaim is the main one's only; each shard has its own store. */}}
{{- define "mcpproxy-operator.workloadClaimName" -}}
{{- if .shard }}{{ printf "%s-tokens" (include "mcpproxy-operator.workloadName" .) }}{{ else }}{{ include "mcpproxy-operator.claimName" .root }}{{ end }}
{{- end }}

{{/* Whether the Deployments run more than one replica: "true" or "". */}}
{{- define "mcpproxy-operator.severalReplicas" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* Fails on what the schema cannot check: names built from a shard's name must fit in 63 characters. */}}
{{- define "mcpproxy-operator.checkShards" -}}
{{- $fullname := include "mcpproxy-operator.fullname" . }}
{{- range .Values.shards }}
{{- $service := printf "%s-%s-gateway" $fullname . }}
{{- $instance := printf "%s-%s" $.Release.Name . }}
{{- range list $service $instance }}
{{- if gt (len .) 63 }}
{{- fail (printf "shards: %s is longer than 63 characters (a Service name or label value): use a shorter shard name, or fullnameOverride" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (include "mcpproxy-operator.severalReplicas" .) (ne .Values.tokenStore.backend "secrets") }}
{{- fail "replicaCount > 1 needs tokenStore.backend: secrets: the bolt token store is one file with a single writer" }}
{{- end }}
{{- end }}

{{/* A manager Deployment: the main one (shard "") or a shard's. */}}
{{- define "mcpproxy-operator.deployment" -}}
{{- $r := .root }}
{{- $shard := .shard }}
{{- $name := include "mcpproxy-operator.workloadName" . }}
{{- $secrets := eq $r.Values.tokenStore.backend "secrets" }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $r.Release.Namespace }}
  labels:
    {{- include "mcpproxy-operator.workloadLabels" . | nindent 4 }}
    app.kubernetes.io/component: controller-manager
spec:
  # Leader election is always on: only the leader reconciles (and spends refresh tokens).
  replicas: {{ int $r.Values.replicaCount }}
  strategy:
    {{- if $secrets }}
    # On the Secrets store every replica serves the gateway and any number may run, so a new
    # pod starts before an old one stops (maxUnavailable 0): the gateway keeps serving through
    # an upgrade, even with one replica. maxSurge 1 replaces one pod at a time, so the cluster
    # needs room for one extra pod only, and leadership moves at most once per replaced pod.
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
    {{- else }}
    # bbolt is single-writer: one replica (the schema refuses more), and Recreate so an old and
    # a new pod never hold the token store at once. Leader election guards the rest (e.g. a pod
    # on a lost node).
    type: Recreate
    {{- end }}
  selector:
    matchLabels:
      {{- include "mcpproxy-operator.workloadSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- with $r.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      labels:
        {{- include "mcpproxy-operator.workloadSelectorLabels" . | nindent 8 }}
        app.kubernetes.io/component: controller-manager
        {{- with $r.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "mcpproxy-operator.serviceAccountName" $r }}
      {{- with $r.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $r.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $r.Values.terminationGracePeriodSeconds }}
      containers:
      - name: manager
        image: {{ include "mcpproxy-operator.image" $r | quote }}
        imagePullPolicy: {{ $r.Values.image.pullPolicy }}
        command: ["/manager"]
        args:
        - --leader-elect
        - --leader-election-namespace={{ $r.Release.Namespace }}
        {{- if $shard }}
        # Each shard elects its own leader. The main Deployment keeps the binary's default
        # lease: a new name would let an old and a new pod lead at once during an upgrade.
        - --leader-election-id={{ $name }}.mcp.mcpproxy.dev
        - --watch-label-selector={{ include "mcpproxy-operator.shardLabel" . }}={{ $shard }}
        {{- else if $r.Values.shards }}
        # Servers without the shard label are the main Deployment's.
        - "--watch-label-selector=!{{ include "mcpproxy-operator.shardLabel" . }}"
        {{- end }}
        - --token-store-backend={{ $r.Values.tokenStore.backend }}
        {{- if $secrets }}
        # Shards share the namespace: a record is keyed by its server, and a shard touches only
        # its own servers' records.
        - --token-store-namespace={{ $r.Release.Namespace }}
        {{- else }}
        - --token-store=/var/lib/mcpproxy/tokens.db
        {{- end }}
        - --token-encryption-key-file=/etc/mcpproxy/token-key/{{ include "mcpproxy-operator.keySecretKey" $r }}
        - --metrics-bind-address={{ if $r.Values.metrics.enabled }}:{{ $r.Values.metrics.port }}{{ else }}0{{ end }}
        {{- if and $r.Values.metrics.enabled $r.Values.metrics.secure }}
        - --metrics-secure
        {{- end }}
        - --health-probe-bind-address=:{{ $r.Values.healthProbePort }}
        - --gateway-bind-address={{ if $r.Values.gateway.enabled }}:{{ $r.Values.gateway.port }}{{ else }}0{{ end }}
        - --max-concurrent-reconciles={{ $r.Values.controller.maxConcurrentReconciles }}
        {{- with $r.Values.watchNamespaces }}
        - --namespaces={{ join "," . }}
        {{- end }}
        - --zap-log-level={{ $r.Values.controller.logLevel }}
        - --graceful-shutdown-timeout={{ $r.Values.controller.gracefulShutdownTimeout }}
        {{- if $r.Values.egress.denyLoopback }}
        - --egress-deny-cidr=127.0.0.0/8,::1/128
        {{- end }}
        {{- range $r.Values.egress.denyCIDRs }}
        - {{ printf "--egress-deny-cidr=%s" . | quote }}
        {{- end }}
        {{- range $r.Values.egress.allowCIDRs }}
        - {{ printf "--egress-allow-cidr=%s" . | quote }}
        {{- end }}
        {{- range $r.Values.controller.extraArgs }}
        - {{ . | quote }}
        {{- end }}
        {{- with $r.Values.controller.extraEnv }}
        env:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        ports:
        {{- if $r.Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ $r.Values.metrics.port }}
          protocol: TCP
        {{- end }}
        {{- if $r.Values.gateway.enabled }}
        - name: gateway
          containerPort: {{ $r.Values.gateway.port }}
          protocol: TCP
        {{- end }}
        - name: health
          containerPort: {{ $r.Values.healthProbePort }}
          protocol: TCP
        livenessProbe:
          httpGet:
            path: /healthz
            port: health
          initialDelaySeconds: 15
          periodSeconds: 20
        readinessProbe:
          httpGet:
            path: /readyz
            port: health
          initialDelaySeconds: 5
          periodSeconds: 10
        securityContext:
          {{- toYaml $r.Values.securityContext | nindent 10 }}
        {{- with $r.Values.resources }}
        resources:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        volumeMounts:
        {{- if not $secrets }}
        - name: token-store
          mountPath: /var/lib/mcpproxy
        {{- end }}
        - name: token-key
          mountPath: /etc/mcpproxy/token-key
          readOnly: true
      volumes:
      {{- if not $secrets }}
      - name: token-store
        {{- if $r.Values.persistence.enabled }}
        persistentVolumeClaim:
          claimName: {{ include "mcpproxy-operator.workloadClaimName" . }}
        {{- else }}
        emptyDir: {}
        {{- end }}
      {{- end }}
      - name: token-key
        secret:
          secretName: {{ include "mcpproxy-operator.keySecretName" $r }}
          # Readable by the owner only; the kubelet adds group read for the pod's fsGroup, which is
          # how the non-root manager reads it.
          defaultMode: 0400
          items:
          - key: {{ include "mcpproxy-operator.keySecretKey" $r }}
            path: {{ include "mcpproxy-operator.keySecretKey" $r }}
      {{- with $r.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $r.Values.affinity }}
      affinity:
        {{- toYaml $r.Values.affinity | nindent 8 }}
      {{- else if include "mcpproxy-operator.severalReplicas" $r }}
      # Replicas on different nodes when the scheduler can (preferred, not required: a one-node
      # cluster still runs them all). A user-given affinity replaces this.
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels:
                  {{- include "mcpproxy-operator.workloadSelectorLabels" . | nindent 18 }}
      {{- end }}
      {{- with $r.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
