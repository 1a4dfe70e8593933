#!/usr/bin/env bash
# The embedded default, as `make demo` runs it: see gwtm_assets/devtools/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec gwtm-cron demo
