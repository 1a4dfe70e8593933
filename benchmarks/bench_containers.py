"""Cold and warm times of the container images: the Debian-made base images and the project's image.

Cold uses a fresh podman store of its own (CONTAINERS_STORAGE_CONF), so the
images the tests use stay as they are; warm repeats the same steps on that
store. The compose stack's own times (up, healthy, first record) are printed by
tests/test_containers.py.

    python benchmarks/bench_containers.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    return time.monotonic() - started


def main() -> None:
    store = Path(tempfile.mkdtemp(prefix="gwtm-podman-store-"))
    conf = store / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{store}/graph"\nrunroot = "{store}/run"\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf), "PYTHON": sys.executable}
    build = [
        "podman", "build", "--quiet", "--format", "docker", "-t", "ghcr.io/thetreasuremap/gwtm_cron:latest",
        "-v", "/etc/ssl/certs/ca-certificates.crt:/etc/host-ca.crt:ro",
        "-v", f"{REPO / 'scripts/containers/pip.conf'}:/etc/pip.conf:ro", str(REPO),
    ]  # fmt: skip
    try:
        rows = []
        for state in ("cold", "warm"):
            base = timed(["bash", str(REPO / "scripts/containers/base-images.sh")], env)
            image = timed(build, env)
            rows.append((state, base, image))
        print("| state | base images | project image | both |\n|---|---|---|---|")
        for state, base, image in rows:
            print(f"| {state} | {base:.0f} s | {image:.0f} s | {base + image:.0f} s |")
    finally:
        subprocess.run(["podman", "rmi", "--all", "--force"], env=env, check=False, capture_output=True)
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
