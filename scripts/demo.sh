#!/usr/bin/env bash
# The embedded default: a local Dagster instance, local storage, the project's own GWTM API,
# the bundled samples materialized through the asset graph, then the Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "$DAGSTER_HOME"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
export DAGSTER_HOME LOCAL_STORAGE_DIR STORAGE_BUCKET_SOURCE=local
export API_TOKEN=demo-admin-token API_BASE="http://127.0.0.1:${DEMO_API_PORT}/api/v1/"

gwtm-cron dev-api --port "$DEMO_API_PORT" --token "$API_TOKEN" &
api_pid=$!
trap 'kill $api_pid 2>/dev/null || true' EXIT
sleep 1

echo "== Materializing the bundled samples (storage: $LOCAL_STORAGE_DIR, instance: $DAGSTER_HOME)"
gwtm-cron ingest \
  samples/ligo/MS181101ab-earlywarning.json samples/ligo/MS181101ab-preliminary.json \
  samples/ligo/MS181101ab-initial.json samples/ligo/MS181101ab-update.json \
  samples/ligo/MS181101ab-ext-update.json samples/ligo/MS181101ab-retraction.json \
  samples/ligo/S230518h-preliminary.json samples/icecube/*.json
echo "== Products:"
find "$LOCAL_STORAGE_DIR" -path '*/.*' -prune -o -type f -print | grep -v -e /incoming/ -e /ledger/ | sort | sed "s|$LOCAL_STORAGE_DIR/|  |"

if [ "${DEMO_NO_UI:-}" = "1" ]; then exit 0; fi
echo "== Dagster UI on http://127.0.0.1:${DEMO_PORT} (Ctrl-C to stop)"
dagster dev -w workspace.yaml -p "$DEMO_PORT" -h 127.0.0.1
