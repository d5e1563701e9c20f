{{/*
Chart name (nameOverride).
*/}}
{{- define "flyte-admission.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: names the Deployment, Service, ServiceAccount, RBAC objects and the
cluster-scoped webhook configurations, admission policy and binding (the
RegistrationOptions.Name of webhook.RegistrationObjects).
*/}}
{{- define "flyte-admission.fullname" -}}
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

{{- define "flyte-admission.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels Helm and the chart add to every object; the registration objects carry
the code's own labels (app.kubernetes.io/name, app.kubernetes.io/component)
plus these.
*/}}
{{- define "flyte-admission.helmLabels" -}}
helm.sh/chart: {{ include "flyte-admission.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flyte-admission
{{- end }}

{{- define "flyte-admission.labels" -}}
app.kubernetes.io/name: {{ include "flyte-admission.name" . }}
{{ include "flyte-admission.helmLabels" . }}
{{- end }}

{{- define "flyte-admission.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flyte-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the webhook configurations, the admission policy and its binding:
exactly webhook.RegistrationOptions.meta()'s, then Helm's.
*/}}
{{- define "flyte-admission.registrationLabels" -}}
app.kubernetes.io/name: flyte-admission
app.kubernetes.io/component: admission
{{ include "flyte-admission.helmLabels" . }}
{{- end }}

{{- define "flyte-admission.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flyte-admission.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flyte-admission.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secret the server fills in certs.mode self (never templated). */}}
{{- define "flyte-admission.selfCertSecret" -}}
{{- default (printf "%s-certs" (include "flyte-admission.fullname" .)) .Values.certs.self.secretName }}
{{- end }}

{{/* Secret cert-manager fills in certs.mode cert-manager. */}}
{{- define "flyte-admission.tlsSecret" -}}
{{- default (printf "%s-tls" (include "flyte-admission.fullname" .)) .Values.certs.certManager.secretName }}
{{- end }}

{{- define "flyte-admission.certificate" -}}
{{- printf "%s-serving" (include "flyte-admission.fullname" .) }}
{{- end }}

{{/*
The watcher's leader-election Lease: `serve` names it flyte-admission-watch
(webhook.DefaultName + "-watch", not configurable), in --namespace.
*/}}
{{- define "flyte-admission.leaseName" -}}
flyte-admission-watch
{{- end }}

{{/* The metrics Service; a ServiceMonitor's job label is its name. */}}
{{- define "flyte-admission.metricsService" -}}
{{- printf "%s-metrics" (include "flyte-admission.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flyte-admission.configMap" -}}
{{- printf "%s-config" (include "flyte-admission.fullname" .) }}
{{- end }}

{{/*
Annotations of the webhook configurations: cert-manager's cainjector fills
caBundle in cert-manager mode; in self mode the server patches it.
*/}}
{{- define "flyte-admission.webhookAnnotations" -}}
{{- if eq .Values.certs.mode "cert-manager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "flyte-admission.certificate" .) }}
{{- end }}
{{- end }}

{{/*
The webhook's client config (no caBundle: the server or cert-manager fills it).
Argument: (list $ path).
*/}}
{{- define "flyte-admission.clientConfig" -}}
{{- $ := index . 0 -}}
clientConfig:
  service:
    namespace: {{ $.Release.Namespace }}
    name: {{ include "flyte-admission.fullname" $ }}
    path: {{ index . 1 }}
    port: {{ $.Values.service.port }}
{{- end }}

{{/*
Rules of both webhooks and the admission policy: CREATE and UPDATE of the three
resources (webhook.Resources).
*/}}
{{- define "flyte-admission.rules" -}}
- apiGroups: ["sparkoperator.k8s.io"]
  apiVersions: ["v1beta2"]
  resources: ["sparkapplications"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: ["ray.io"]
  apiVersions: ["v1"]
  resources: ["rayjobs"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: ["kubernetes.dask.org"]
  apiVersions: ["v1"]
  resources: ["daskjobs"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
{{- end }}

{{/*
kube-system and the release namespace are never admitted (the webhook must be
able to start); namespaces may opt out of the webhooks (not of the policy).
*/}}
{{- define "flyte-admission.systemNamespaces" -}}
- key: kubernetes.io/metadata.name
  operator: NotIn
  values:
    - kube-system
    {{- if ne .Release.Namespace "kube-system" }}
    - {{ .Release.Namespace }}
    {{- end }}
{{- end }}

{{- define "flyte-admission.webhookNamespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    {{- include "flyte-admission.systemNamespaces" . | nindent 4 }}
    - key: flyte.org/admission
      operator: NotIn
      values: ["disabled"]
{{- end }}
