{{- /* Shared pieces of every component's manifests. A component is an entry of .Values.components. */}}

{{- define "chatbot.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: chatbot
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "chatbot.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- /* components.<name>.image (a full reference, as skaffold sets it) or registry + chatbot/<name>:tag */}}
{{- define "chatbot.image" -}}
{{- if .c.image }}{{ .c.image | quote }}{{ else }}"{{ .root.Values.image.registry }}chatbot/{{ .name }}:{{ .root.Values.image.tag }}"{{ end }}
{{- end }}

{{- /* The settings a component reads: the shared ones, then its own (its own win). */}}
{{- define "chatbot.envData" -}}
OTEL_SERVICE_NAME: {{ .name | quote }}
{{- range $k, $v := .root.Values.env }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- range $k, $v := .c.env }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}

{{- /* Secrets: the whole existingSecret as variables, plus single keys of other Secrets. */}}
{{- define "chatbot.secretEnv" -}}
{{- range .root.Values.secretEnv }}
{{- if or (not .components) (has $.name .components) }}
- name: {{ .name }}
  valueFrom: {secretKeyRef: {name: {{ .secret }}, key: {{ .key }}}}
{{- end }}
{{- end }}
{{- end }}

{{- define "chatbot.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end }}

{{- define "chatbot.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- /* The components that call `.name` (for its NetworkPolicy): those whose talksTo lists it. */}}
{{- define "chatbot.callers" -}}
{{- $callers := list }}
{{- range $other, $oc := .root.Values.components }}
{{- if has $.name ($oc.talksTo | default list) }}
{{- $callers = append $callers $other }}
{{- end }}
{{- end }}
{{- toJson $callers }}
{{- end }}
