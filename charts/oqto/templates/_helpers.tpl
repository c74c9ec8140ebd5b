{{/* Names, labels and images shared by the templates. */}}

{{- define "oqto.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; with a component's selector labels use oqto.commonLabels (the
selector brings the instance label). */}}
{{- define "oqto.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: oqto
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "oqto.labels" -}}
{{ include "oqto.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's and the gateway's pod labels. The gateway's name label is what the
operator's runner NetworkPolicies admit (--gateway-label). */}}
{{- define "oqto.operator.selector" -}}
app.kubernetes.io/name: oqto-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "oqto.gateway.selector" -}}
app.kubernetes.io/name: oqto-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oqto.llmProxy.selector" -}}
app.kubernetes.io/name: oqto-llm-proxy
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Where runners reach the LLM proxy. */}}
{{- define "oqto.llmProxy.url" -}}
{{- .Values.llmProxy.url | default (printf "http://%s-llm-proxy.%s.svc:%v" (include "oqto.fullname" .) .Release.Namespace .Values.llmProxy.service.port) -}}
{{- end -}}

{{/* The proxy's admin listener (metrics, usage reports) as the gateway reaches it. */}}
{{- define "oqto.llmProxy.adminUrl" -}}
{{- if .Values.llmProxy.service.clusterIP -}}
{{- printf "http://%s:9091" .Values.llmProxy.service.clusterIP -}}
{{- else -}}
{{- printf "http://%s-llm-proxy.%s.svc:9091" (include "oqto.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "oqto.image" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
{{- $tag := $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- if $root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) $name $tag -}}
{{- else -}}
{{- printf "%s:%s" $name $tag -}}
{{- end -}}
{{- end -}}

{{- define "oqto.gatewayNamespace" -}}
{{- .Values.gateway.namespace | default (printf "%s-workspaces" .Release.Namespace) -}}
{{- end -}}

{{- define "oqto.adminSecret" -}}
{{- .Values.gateway.admin.existingSecret | default (printf "%s-admin" (include "oqto.fullname" .)) -}}
{{- end -}}

{{/* Restricted Pod Security: no root, no privilege, nothing writable but volumes. */}}
{{- define "oqto.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
