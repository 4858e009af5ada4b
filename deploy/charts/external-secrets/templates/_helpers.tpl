{{- define "external-secrets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "external-secrets.fullname" -}}
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

{{- define "external-secrets.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "external-secrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "external-secrets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "external-secrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "external-secrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "external-secrets.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /*
The controller's rules, called with (dict "Values" .Values "cluster" bool): cluster-wide for the ClusterRole, or
those a namespace-scoped install grants in its namespace (a Role cannot grant the cluster-scoped kinds:
ClusterSecretStores, ClusterGenerators (refused as forbidden), ClusterExternalSecrets, ClusterPushSecrets and
namespaces are off).
*/}}
{{- define "external-secrets.controllerRules" }}
{{- $cluster := .cluster }}
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets", "secretstores"{{ if $cluster }}, "clustersecretstores"{{ end }}]
  verbs: ["get", "list", "watch"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets"]
  verbs: ["patch", "update"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets/status", "secretstores/status"{{ if $cluster }}, "clustersecretstores/status"{{ end }}]
  verbs: ["patch", "update"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get"]
{{- if .Values.rbac.serviceAccountTokenCreate }}
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}
- apiGroups: ["generators.external-secrets.io"]
  resources: ["passwords", "uuids", "fakes", "sshkeys", "ecrauthorizationtokens", "stssessiontokens", "webhooks", "vaultdynamicsecrets"{{ if $cluster }}, "clustergenerators"{{ end }}]
  verbs: ["get"]
- apiGroups: ["generators.external-secrets.io"]
  resources: ["grafanas"]
  verbs: ["get"]
- apiGroups: ["generators.external-secrets.io"]
  resources: ["generatorstates"]
  verbs: ["list", "watch", "create", "patch", "delete"]
{{- if $cluster }}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if and $cluster .Values.processClusterExternalSecret }}
- apiGroups: ["external-secrets.io"]
  resources: ["clusterexternalsecrets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["clusterexternalsecrets/status"]
  verbs: ["patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["clusterexternalsecrets/finalizers"]
  verbs: ["update"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets"]
  verbs: ["create", "delete"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch", "patch"]
{{- end }}
{{- if .Values.processPushSecret }}
- apiGroups: ["external-secrets.io"]
  resources: ["pushsecrets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["pushsecrets/status"]
  verbs: ["patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["secretstores"{{ if $cluster }}, "clustersecretstores"{{ end }}]
  verbs: ["patch"]
{{- end }}
{{- if and $cluster .Values.processClusterPushSecret }}
- apiGroups: ["external-secrets.io"]
  resources: ["clusterpushsecrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["external-secrets.io"]
  resources: ["clusterpushsecrets/status"]
  verbs: ["patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["clusterpushsecrets/finalizers"]
  verbs: ["update"]
- apiGroups: ["external-secrets.io"]
  resources: ["pushsecrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- /*
Generic targets (genericTargets.enabled): ConfigMaps written instead of Secrets (get is always granted), and the
rules of genericTargets.resources verbatim, as ESO's chart renders them.
*/}}
{{- if .Values.genericTargets.enabled }}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "watch", "create", "patch", "delete"]
{{- range .Values.genericTargets.resources }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: [{{ range $i, $r := .resources }}{{ if $i }}, {{ end }}{{ $r | quote }}{{ end }}]
  verbs: [{{ range $i, $v := .verbs }}{{ if $i }}, {{ end }}{{ $v | quote }}{{ end }}]
{{- end }}
{{- end }}
{{- end }}

{{- define "external-secrets.webhookName" -}}
{{- printf "%s-webhook" (include "external-secrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "external-secrets.webhookServiceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create }}
{{- default (include "external-secrets.webhookName" .) .Values.webhook.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.webhook.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "external-secrets.certControllerName" -}}
{{- printf "%s-cert-controller" (include "external-secrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "external-secrets.certControllerServiceAccountName" -}}
{{- if .Values.certController.serviceAccount.create }}
{{- default (include "external-secrets.certControllerName" .) .Values.certController.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.certController.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* The Secret with ca.crt/tls.crt/tls.key the webhook serves from (ESO: external-secrets-webhook). */}}
{{- define "external-secrets.webhookSecretName" -}}
{{- include "external-secrets.webhookName" . }}
{{- end }}

{{- /* Whether the chart runs the cert controller. */}}
{{- define "external-secrets.certControllerEnabled" -}}
{{- if and .Values.webhook.create .Values.certController.create (not .Values.webhook.certManager.enabled) }}true{{ end }}
{{- end }}

{{- /* The two ValidatingWebhookConfigurations (ESO: secretstore-validate, externalsecret-validate), prefixed
with the release's name so that several releases can coexist. */}}
{{- define "external-secrets.storeValidateName" -}}
{{- printf "%s-secretstore-validate" (include "external-secrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "external-secrets.externalSecretValidateName" -}}
{{- printf "%s-externalsecret-validate" (include "external-secrets.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
