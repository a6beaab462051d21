{{/* Names. The full name also names cluster-scoped objects, so keep one release per cluster. */}}
{{- define "ato.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ato.fullname" -}}
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

{{- define "ato.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ato.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ato.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ato.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ato.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ato.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ato.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The peering object's name is the operator's ASTRA_OPERATOR_PEERING_NAME. */}}
{{- define "ato.peeringName" -}}
{{- include "ato.fullname" . -}}
{{- end -}}

{{- define "ato.webhookServiceName" -}}
{{- printf "%s-webhook" (include "ato.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ato.webhookSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "ato.fullname" .)) .Values.webhook.certificate.secretName -}}
{{- end -}}

{{- define "ato.webhookConfigurationName" -}}
{{- default (printf "%s.astra-tokens.io" (include "ato.fullname" .)) .Values.webhook.configurationName -}}
{{- end -}}

{{/* The names the apiserver may use for the webhook Service (it calls <svc>.<ns>.svc). */}}
{{- define "ato.webhookDNSNames" -}}
{{- $svc := include "ato.webhookServiceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/* Fails rendering on value combinations that cannot work, with the reason and the fix. */}}
{{- define "ato.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail "replicas > 1 needs peering.enabled=true: standalone replicas would all act on every token at once" -}}
{{- end -}}
{{- if and .Values.peering.enabled .Values.watchNamespaces -}}
{{- range .Values.watchNamespaces -}}
{{- if regexMatch "[*?\\[\\]!]" . -}}
{{- fail (printf "watchNamespaces entry %q is a pattern: with peering the chart must create a KopfPeering in each watched namespace, so list exact names (or set peering.enabled=false and replicas=1)" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.vault.auth "token") (not .Values.vault.tokenSecret.name) -}}
{{- fail "vault.auth=token needs vault.tokenSecret.name (a Secret in the release namespace holding the Vault token)" -}}
{{- end -}}
{{- if and (eq .Values.vault.auth "approle") (or (not .Values.vault.approle.roleId) (not .Values.vault.approle.secretIdSecret.name)) -}}
{{- fail "vault.auth=approle needs vault.approle.roleId and vault.approle.secretIdSecret.name" -}}
{{- end -}}
{{- end -}}

{{/* Rules on namespaced objects: granted cluster-wide, or per namespace with watchNamespaces. */}}
{{- define "ato.namespacedRules" -}}
# Token Secrets live in the tenants' namespaces. RBAC cannot filter by label: list/watch are only
# ever sent with labelSelector astra-tokens.io/managed=true (the watch, and the census of their
# metadata behind it), and other Secrets (root tokens) are read one by one with get.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
# Sidecar mode: pods are only ever listed and watched with labelSelector astra-tokens.io/inject=true
# (RBAC cannot filter by label), and read one by one when a pod's AstraToken is deleted.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Kopf posts core/v1 Events (never events.k8s.io, never updates them).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.rbac.rolloutRestarts }}
# spec.rolloutRestartTargets: annotate the pod template after a rotation (patch), follow the
# rollout before revoking the old token (get), find label-selected targets (list); Argo Rollouts
# the same through spec.restartAt.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, patch]
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [get, list, patch]
{{- end }}
{{- end -}}
