{{/* One component: a one-replica Deployment (Recreate: never two daemons, never two consumers of one group, never
     two pools) and its Service. (dict "ctx" $ "component" NAME "port" PORT "container" DICT "instance" BOOL
     "waitForPostgres" BOOL "serviceAccount" NAME
     "volumes" LIST "securityContext" DICT "image" IMAGE) */}}
{{- define "gwtm.component" -}}
{{- $ := .ctx }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ .component }}
  labels:
    {{- include "gwtm.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      {{- include "gwtm.selector" (dict "ctx" $ "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "gwtm.labels" $ | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        # A changed instance or workspace rolls the pods that read them.
        checksum/instance: {{ include (print $.Template.BasePath "/instance.yaml") $ | sha256sum }}
    spec:
      {{- if .hostNetwork | default $.Values.hostNetwork }}
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      {{- end }}
      securityContext:
        {{- toYaml (.securityContext | default $.Values.podSecurityContext) | nindent 8 }}
      {{- with .serviceAccount }}
      serviceAccountName: {{ . }}
      {{- else }}
      automountServiceAccountToken: false
      {{- end }}
      terminationGracePeriodSeconds: 60
      {{- if .waitForPostgres }}
      initContainers:
        {{- include "gwtm.waitForPostgres" $ | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ .image | default (include "gwtm.image" $) }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          {{- toYaml .container | nindent 10 }}
          {{- if .port }}
          ports:
            - name: {{ .component }}
              containerPort: {{ .port }}
          {{- end }}
          {{- if .instance }}
          volumeMounts:
            {{- include "gwtm.instanceMounts" $ | nindent 12 }}
          {{- end }}
      {{- if or .instance .volumes }}
      volumes:
        {{- if .instance }}
        {{- include "gwtm.instanceVolume" $ | nindent 8 }}
        {{- end }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
{{- if .port }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $.Release.Name }}-{{ .component }}
  labels:
    {{- include "gwtm.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  selector:
    {{- include "gwtm.selector" (dict "ctx" $ "component" .component) | nindent 4 }}
  ports:
    - name: {{ .component }}
      port: {{ .port }}
      targetPort: {{ .port }}
{{- end }}
{{- end }}
