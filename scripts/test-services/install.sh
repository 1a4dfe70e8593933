#!/usr/bin/env bash
# Install the storage servers the tests run on loopback (see ../shared/docs/test-services.md):
# Azurite (npm, into .cache/azurite), an OpenStack Swift all-in-one with memcached and Keystone v3 (Debian packages),
# docker-compose (Debian) to validate docker-compose.yml without a Docker engine, and PostgreSQL (Debian), the
# production instance's storage, for the daemon tests and benchmarks run as deployed, and Prometheus (promtool and
# a server) for the alert rules and the exporter's end-to-end test.
# Idempotent: does nothing when they are already there. Moto (S3) and Tansu (Kafka) come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .cache/azurite/node_modules/.bin/azurite-blob ]; then
  echo "== installing Azurite (npm) into .cache/azurite"
  mkdir -p .cache/azurite
  (cd .cache/azurite && npm install --no-audit --no-fund --silent azurite@3.35.0)
fi

if [ ! -x /usr/bin/swift-proxy-server ] || [ ! -x /usr/bin/keystone-wsgi-public ] || ! command -v uwsgi >/dev/null \
   || ! command -v memcached >/dev/null || ! command -v docker-compose >/dev/null \
   || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v promtool >/dev/null; then
  echo "== installing OpenStack Swift, Keystone (uwsgi, SQLite), memcached, docker-compose, PostgreSQL and Prometheus (Debian packages)"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # No init system here: package scripts must not try to start the daemons (the tests start their own).
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod 755 /usr/sbin/policy-rc.d; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends \
    swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached docker-compose \
    keystone python3-keystoneclient python3-keystonemiddleware uwsgi-core uwsgi-plugin-python3 sqlite3 postgresql prometheus >/dev/null
fi

# podman, buildah, mmdebstrap and the containers.conf this machine needs: the image and compose stack test.
bash scripts/containers/install.sh
