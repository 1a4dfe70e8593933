#!/usr/bin/env bash
# What the container test needs on a Debian machine: podman (+ Docker API), buildah, mmdebstrap, docker-compose.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null || ! command -v docker-compose >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah mmdebstrap uidmap fuse-overlayfs \
    slirp4netns runc docker-compose >/dev/null
fi
# Without these, every RUN and run fails here (setrlimit RLIMIT_NOFILE; cgroups in hybrid mode).
if [ ! -f /etc/containers/containers.conf ]; then
  $SUDO mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' \
    | $SUDO tee /etc/containers/containers.conf >/dev/null
fi
