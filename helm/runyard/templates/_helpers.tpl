{{/* Names, labels and shared bits. */}}

{{- define "runyard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "runyard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "runyard.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" .Values.x.image). A digest wins over the tag. */}}
{{- define "runyard.image" -}}
{{- $registry := .image.registry | default .root.Values.image.registry -}}
{{- $ref := .image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "runyard.tokenSecret" -}}
{{- .Values.tokens.existingSecret | default (printf "%s-tokens" (include "runyard.fullname" .)) -}}
{{- end -}}

{{- define "runyard.redisSecret" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis" (include "runyard.fullname" .)) -}}
{{- end -}}

{{- define "runyard.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "runyard.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "runyard.serverUrl" -}}
{{- printf "http://%s-server:%v" (include "runyard.fullname" .) .Values.server.service.port -}}
{{- end -}}

{{/* Pod annotations: every pod's, the part's own (.annotations), and a hash of the
chart-made Secrets' rendered text, so a token or password change rolls the pods. */}}
{{- define "runyard.podAnnotations" -}}
{{- $made := printf "%s\n%s" (include "runyard.tokenSecretManifest" .root) (include "runyard.redisSecretManifest" .root) -}}
{{- $annotations := merge (dict "checksum/secret" ($made | sha256sum)) (.annotations | default dict) (.root.Values.podAnnotations | default dict) -}}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end -}}

{{/* What every pod spec has: the ServiceAccount without an API token, pull secrets. */}}
{{- define "runyard.podCommon" -}}
serviceAccountName: {{ include "runyard.serviceAccount" . }}
automountServiceAccountToken: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "runyard.podSecurity" -}}
{{ include "runyard.podCommon" . }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "runyard.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{/* What both containers of a Sentinel-set pod need to find the master. */}}
{{- define "runyard.sentinelEnv" -}}
- name: REDISCLI_AUTH
  valueFrom: {secretKeyRef: {name: {{ include "runyard.redisSecret" . }}, key: redis-password}}
- {name: SET, value: {{ printf "%s-redis" (include "runyard.fullname" .) | quote }}}
- {name: REPLICAS, value: {{ .Values.redis.sentinel.replicas | quote }}}
- {name: MASTER_NAME, value: {{ .Values.redis.sentinel.masterName | quote }}}
{{- end -}}

{{/* The sentinels the server asks for the master: the chart's set, or external ones. */}}
{{- define "runyard.sentinelHosts" -}}
{{- if .Values.redis.enabled -}}
{{- $set := printf "%s-redis" (include "runyard.fullname" .) -}}
{{- $hosts := list -}}
{{- range $i := until (int .Values.redis.sentinel.replicas) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s:26379" $set $i $set) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- else -}}
{{- join "," .Values.redis.externalSentinel.hosts -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when artifacts and history live in S3, not on the server's volume. */}}
{{- define "runyard.s3" -}}
{{- if .Values.storage.s3.bucket }}true{{ end -}}
{{- end -}}
