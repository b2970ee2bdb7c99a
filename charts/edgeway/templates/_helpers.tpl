{{/* Names and labels shared by every template. */}}

{{- define "edgeway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's fullname: the name of the Deployment, ServiceAccount and RBAC objects. */}}
{{- define "edgeway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The xDS Service's name (the data planes dial <xdsService>.<namespace>.svc:<port>). */}}
{{- define "edgeway.xdsService" -}}
{{- printf "%s-xds" (include "edgeway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edgeway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "edgeway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "edgeway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edgeway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "edgeway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "edgeway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edgeway
{{- end -}}

{{/* Labels for cluster-scoped or non-controller objects (no component). */}}
{{- define "edgeway.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "edgeway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edgeway
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "edgeway.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The data planes' image: dataplane.image; else, with image.digest, the controller's image
(pinned: a digest names one image, and the whole edgeway binary runs `edgeway dataplane` too);
else <repository>-dataplane:<tag>, the data-plane-only binary edgeway-dataplane. */}}
{{- define "edgeway.dataplaneImage" -}}
{{- if .Values.dataplane.image -}}
{{- .Values.dataplane.image -}}
{{- else if .Values.image.digest -}}
{{- include "edgeway.image" . -}}
{{- else -}}
{{- printf "%s-dataplane:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret of the xDS certificate authority, in the release namespace. */}}
{{- define "edgeway.caSecret" -}}
{{- printf "%s-xds-ca" (include "edgeway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
