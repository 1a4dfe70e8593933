{{- define "gwtm.name" -}}{{ .Release.Name }}{{- end }}

{{- define "gwtm.labels" -}}
app.kubernetes.io/part-of: gwtm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "daemon") */}}
{{- define "gwtm.selector" -}}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "gwtm.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end }}

{{/* Where a component is reached: its Service, or the node's loopback on the host network. */}}
{{- define "gwtm.host" -}}
{{- if .ctx.Values.hostNetwork }}127.0.0.1{{ else }}{{ .ctx.Release.Name }}-{{ .component }}{{ end }}
{{- end }}

{{/* Where a component listens. */}}
{{- define "gwtm.bind" -}}{{ if .Values.hostNetwork }}127.0.0.1{{ else }}0.0.0.0{{ end }}{{- end }}

{{- define "gwtm.pgHost" -}}
{{- if .Values.postgresql.enabled }}{{ include "gwtm.host" (dict "ctx" . "component" "postgresql") }}{{ else }}{{ required "postgresql.externalHost is required when postgresql.enabled is false" .Values.postgresql.externalHost }}{{ end }}
{{- end }}

{{- define "gwtm.pgSecret" -}}{{ .Values.postgresql.passwordSecret | default (printf "%s-postgresql" .Release.Name) }}{{- end }}
{{- define "gwtm.tokenSecret" -}}{{ .Values.runWorkers.tokenSecret | default (printf "%s-run-workers-token" .Release.Name) }}{{- end }}
{{- define "gwtm.runWorkersAddress" -}}{{ include "gwtm.host" (dict "ctx" . "component" "run-workers") }}:{{ .Values.runWorkers.port }}{{- end }}

{{/* The environment of a run (run pods, warm workers): the listeners' variables and the instance's, without the
     PostgreSQL password, which K8sRunLauncher adds to run pods itself (postgres_password_secret). */}}
{{- define "gwtm.runEnv" -}}
{{- $overridden := dict }}
{{- range .Values.extraEnv }}{{ $_ := set $overridden .name true }}{{ end }}
{{- range .Values.env }}
{{- if not (hasKey $overridden .name) }}
- {{ toYaml . | indent 2 | trim }}
{{- end }}
{{- end }}
{{- range .Values.extraEnv }}
- {{ toYaml . | indent 2 | trim }}
{{- end }}
- name: DAGSTER_PG_HOST
  value: {{ include "gwtm.pgHost" . | quote }}
- name: DAGSTER_PG_USERNAME
  value: {{ .Values.postgresql.username | quote }}
- name: DAGSTER_PG_DB
  value: {{ .Values.postgresql.database | quote }}
- name: RUN_WORKERS_ADDRESS
  value: {{ include "gwtm.runWorkersAddress" . | quote }}
- name: RUN_WORKERS_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "gwtm.tokenSecret" . }}, key: RUN_WORKERS_TOKEN}
{{- end }}

{{/* The environment of every long-running pod of ours. */}}
{{- define "gwtm.env" -}}
{{ include "gwtm.runEnv" . }}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "gwtm.pgSecret" . }}, key: postgresql-password}
{{- if and .Values.hostNetwork .Values.kubernetesApiServer }}
{{- $api := splitList ":" .Values.kubernetesApiServer }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ index $api 0 | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ index $api 1 | quote }}
{{- end }}
{{- end }}

{{/* The instance (dagster.yaml) and workspace, mounted over the image's; DAGSTER_HOME stays writable. */}}
{{- define "gwtm.instanceMounts" -}}
- name: instance
  mountPath: /opt/dagster/home/dagster.yaml
  subPath: dagster.yaml
- name: instance
  mountPath: /opt/dagster/app/workspace.k8s.yaml
  subPath: workspace.yaml
{{- end }}

{{- define "gwtm.instanceVolume" -}}
- name: instance
  configMap:
    name: {{ .Release.Name }}-instance
{{- end }}

{{/* Dagster's storage must answer before a Dagster process starts (else each crash-loops with back-off). */}}
{{- define "gwtm.waitForPostgres" -}}
- name: wait-for-postgresql
  image: {{ include "gwtm.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - python
    - -c
    - |
      import socket, sys, time
      for _ in range(300):
          try:
              socket.create_connection(({{ include "gwtm.pgHost" . | quote }}, {{ .Values.postgresql.port }}), timeout=2).close()
              sys.exit(0)
          except OSError:
              time.sleep(1)
      sys.exit("PostgreSQL at {{ include "gwtm.pgHost" . }}:{{ .Values.postgresql.port }} did not answer in 300 s")
{{- end }}
