{{- define "super-todo.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{- define "super-todo.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "super-todo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "super-todo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "super-todo.labels" -}}
{{ include "super-todo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* autoscaling/v2 where served (Kubernetes >= 1.23), autoscaling/v2beta2 before. The version check matters
     for `helm template`, whose built-in API list always has autoscaling/v2. */}}
{{- define "super-todo.hpaApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "autoscaling/v2") (semverCompare ">=1.23-0" .Capabilities.KubeVersion.Version) -}}autoscaling/v2{{- else -}}autoscaling/v2beta2{{- end -}}
{{- end -}}

{{/* policy/v1 where served (Kubernetes >= 1.21), policy/v1beta1 before (same note as above) */}}
{{- define "super-todo.pdbApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version) -}}policy/v1{{- else -}}policy/v1beta1{{- end -}}
{{- end -}}
