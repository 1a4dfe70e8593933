"""A real single-node Kubernetes (``scripts/kubernetes/cluster.sh``) with the listeners' chart installed.

The pods run on the node's network (the chart's ``hostNetwork`` mode: no cluster DNS can be had here) and reach
the test's own servers on loopback: a Tansu broker, moto's S3, the GWTM API double. Nothing else is a target.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .container_stack import REPO, run

CLUSTER = REPO / "scripts/kubernetes/cluster.sh"
K8S_DIR = Path(os.environ.get("K8S_DIR", Path.home() / ".cache/gwtm-k8s"))
KUBECONFIG = K8S_DIR / "run/admin.kubeconfig"
NAMESPACE = "gwtm"
RELEASE = "gwtm"
IMAGE_REPOSITORY = "ghcr.io/thetreasuremap/gwtm_cron"
POSTGRES_IMAGE = "docker.io/library/postgres:16-alpine"
CTR = ["ctr", "-a", str(K8S_DIR / "run/containerd/containerd.sock"), "-n", "k8s.io"]


def missing_piece() -> str | None:
    """Why this machine cannot run the cluster, naming the missing piece; None when it can."""
    if os.geteuid() != 0:
        return "a single-node Kubernetes needs root (containerd, kubelet, iptables)"
    for tool in ("podman", "apt-get", "ip", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "no memory cgroup to run pods in"
    return None


def cluster(*args: str, timeout: float = 300) -> str:
    return run("bash", str(CLUSTER), *args, timeout=timeout, env={**os.environ, "K8S_DIR": str(K8S_DIR)}).stdout


def kubectl(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return run(str(K8S_DIR / "bin/kubectl"), "-n", NAMESPACE, *args, timeout=timeout, check=check,
               env={**os.environ, "KUBECONFIG": str(KUBECONFIG)})  # fmt: skip


def helm(*args: str, timeout: float = 600) -> str:
    binary = run("bash", str(REPO / "scripts/helm.sh")).stdout.strip()
    return run(
        binary, "-n", NAMESPACE, *args, timeout=timeout, env={**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    ).stdout


def tag_image(source: str, target: str) -> None:
    """A second tag of an image already in the cluster's containerd (what a registry push of a new tag gives)."""
    run(*CTR, "images", "tag", "--force", source, target)


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s\n{describe()}")


def pods(selector: str = f"app.kubernetes.io/instance={RELEASE}") -> list[dict[str, Any]]:
    return json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def component_pods(component: str) -> list[dict[str, Any]]:
    return pods(f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}")


def all_ready(components: tuple[str, ...]) -> bool:
    return all(len(p := component_pods(c)) == 1 and ready(p[0]) for c in components)


def describe() -> str:
    """What an operator would look at first: the pods and the last events."""
    got = kubectl("get", "pods", "-o", "wide", check=False)
    events = kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)
    return got.stdout + "\n" + "\n".join(events.stdout.splitlines()[-15:])


def secret_value(name: str, key: str) -> str:
    data = json.loads(kubectl("get", "secret", name, "-o", "json").stdout)["data"]
    return base64.b64decode(data[key]).decode()


def peak_memory_mib(pod: dict[str, Any]) -> float | None:
    """The pod's peak memory from its cgroup (cgroup v1, the kubelet's cgroupfs driver), in MiB."""
    uid = pod["metadata"]["uid"]
    for qos in ("burstable", "besteffort", ""):
        path = Path("/sys/fs/cgroup/memory/kubepods", qos, f"pod{uid}", "memory.max_usage_in_bytes")
        if path.exists():
            return int(path.read_text()) / 2**20
    return None
