#!/usr/bin/env bash
# Install the storage servers the tests run on loopback (see ../shared/docs/test-services.md):
# Azurite (npm, into .cache/azurite), an OpenStack Swift all-in-one with memcached (Debian packages),
# and docker-compose (Debian) to validate docker-compose.yml without a Docker engine.
# Idempotent: does nothing when they are already there. Moto (S3) and Tansu (Kafka) come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .cache/azurite/node_modules/.bin/azurite-blob ]; then
  echo "== installing Azurite (npm) into .cache/azurite"
  mkdir -p .cache/azurite
  (cd .cache/azurite && npm install --no-audit --no-fund --silent azurite@3.35.0)
fi

if [ ! -x /usr/bin/swift-proxy-server ] || ! command -v memcached >/dev/null || ! command -v docker-compose >/dev/null; then
  echo "== installing OpenStack Swift, memcached and docker-compose (Debian packages; compose only validates files here)"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends \
    swift swift-proxy swift-object swift-container swift-account python3-swiftclient memcached docker-compose >/dev/null
fi

# podman, buildah, mmdebstrap and the containers.conf this machine needs: the image and compose stack test.
bash scripts/containers/install.sh
