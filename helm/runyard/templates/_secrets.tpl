{{- /*
The Secrets the chart makes. Random values are kept across upgrades by `lookup`;
`helm template` (GitOps) cannot look up, so there set the values or existingSecret.
*/ -}}
{{- define "runyard.keptValue" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- $kept := "" -}}
{{- /* Nested, not `and`: helm's template engine evaluates every operand of `and`. */ -}}
{{- if $existing -}}
{{- with $existing.data -}}
{{- if hasKey . $.key -}}
{{- $kept = index . $.key | b64dec -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- .given | default $kept | default .random -}}
{{- end -}}

{{- define "runyard.tokenSecretManifest" -}}
{{- if not .Values.tokens.existingSecret -}}
{{- $name := include "runyard.tokenSecret" . -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "runyard.labels" . | nindent 4 }}
type: Opaque
stringData:
  {{- range $key, $given := dict "user-token" .Values.tokens.user "agent-token" .Values.tokens.agent "metrics-token" .Values.tokens.metrics }}
  {{ $key }}: {{ include "runyard.keptValue" (dict "root" $ "name" $name "key" $key "given" $given "random" (randAlphaNum 40)) | quote }}
  {{- end }}
{{- end -}}
{{- end -}}

{{- define "runyard.redisSecretManifest" -}}
{{- if and .Values.redis.enabled (not .Values.redis.auth.existingSecret) -}}
{{- $name := include "runyard.redisSecret" . -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "runyard.labels" . | nindent 4 }}
    app.kubernetes.io/component: redis
type: Opaque
stringData:
  redis-password: {{ include "runyard.keptValue" (dict "root" . "name" $name "key" "redis-password" "given" .Values.redis.auth.password "random" (randAlphaNum 40)) | quote }}
{{- end -}}
{{- end -}}
