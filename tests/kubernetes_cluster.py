"""A real single-node Kubernetes (``scripts/kubernetes/cluster.sh``) with the listeners' chart installed.

The pods run on the node's network (the chart's ``hostNetwork`` mode: no cluster DNS can be had here) and reach
the test's own servers on loopback: a Tansu broker, moto's S3, the GWTM API double. Nothing else is a target.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import yaml
from dagster import DagsterInstance, RunsFilter

from gwtm_assets.devtools.daemon import instance_idle, instance_settled
from gwtm_assets.devtools.daemon import wait_for as poll
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import TansuBroker

from .conftest import ADMIN_TOKEN, sample
from .container_stack import IMAGE, REPO, base_images, build_image, run, timed
from .storage_servers import MotoS3Server

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
    """``devtools.daemon.wait_for``, and on a timeout what an operator would look at first (``describe``)."""
    try:
        return poll(condition, timeout_s, what, every_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe()}") from exc


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
    """What an operator would look at first: the pods, the last events, the last words of a restarted container."""
    got = kubectl("get", "pods", "-o", "wide", check=False)
    events = kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)
    said = []
    for pod in pods():
        if any(status.get("restartCount") for status in pod["status"].get("containerStatuses", [])):
            name = pod["metadata"]["name"]
            logs = kubectl("logs", name, "--previous", "--tail=15", check=False)
            said.append(f"--- {name}, before its last restart:\n{logs.stdout}{logs.stderr}")
    return got.stdout + "\n" + "\n".join(events.stdout.splitlines()[-15:]) + "\n" + "\n".join(said)


def listen_port(low: int = 20000, high: int = 30000) -> int:
    """A loopback port for a pod to listen on later (host network): free now, below the kernel's ephemeral range so
    no outgoing connection takes it meanwhile (a port from bind(0) is in that range, and a pod crash-looped), and
    below the NodePort range."""
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(low, min(high, first_ephemeral)), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {low}-{min(high, first_ephemeral)}")


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


LIGO_TOPIC, ICECUBE_TOPIC = "igwn.gwalert", "gcn.notices.icecube.lvk_nu_track_search"
BUCKET = "gwtreasuremap"
COMPONENTS = ("postgresql", "code-server", "webserver", "daemon", "run-workers", "metrics")
PRELIMINARY = sample("MS181101ab-preliminary").read_bytes()


def new_event(index: int) -> bytes:
    """The preliminary notice as event number ``index`` of its own: a mock event of today (the API sweeps mock
    events of other days, as the real server does), one record."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    superevent = f"MS{datetime.now(UTC):%y%m%d}z{letters[index // 26]}{letters[index % 26]}"
    return PRELIMINARY.replace(b'"MS181101ab"', f'"{superevent}"'.encode())


def superevent(raw: bytes) -> str:
    return json.loads(raw)["superevent_id"]


class Listeners:
    """The installed release and the test's servers; what the tests read back."""

    def __init__(self, api: GWTMApiTestServer, broker: TansuBroker, s3: MotoS3Server, workdir: Path) -> None:
        self.api, self.broker, self.s3, self.workdir = api, broker, s3, workdir
        self.ports = {
            name: listen_port() for name in ("postgresql", "codeServer", "webserver", "runWorkers", "metrics")
        }
        self.values_file = workdir / "test-values.yaml"
        self._instance: DagsterInstance | None = None

    @property
    def instance(self) -> DagsterInstance:
        if self._instance is None:
            home = self.workdir / "instance"
            home.mkdir(exist_ok=True)
            (home / "dagster.yaml").write_text(yaml.safe_dump({
                "telemetry": {"enabled": False},
                "storage": {"postgres": {"postgres_db": {
                    "hostname": "127.0.0.1", "port": self.ports["postgresql"], "username": "dagster", "db_name": "dagster",
                    "password": secret_value(f"{RELEASE}-postgresql", "postgresql-password")}}},
            }))  # fmt: skip
            self._instance = DagsterInstance.from_config(str(home))
        return self._instance

    def records(self) -> dict[str, int]:
        """Records posted per event."""
        counts: dict[str, int] = {}
        for request in self.api.state.posted("post_alert"):
            counts[request.body["graceid"]] = counts.get(request.body["graceid"], 0) + 1
        return counts

    def posted_once(self, events: list[str]) -> bool:
        records = self.records()
        return all(records.get(e, 0) >= 1 for e in events)

    def runs_of(self, event: str) -> list:
        return [r for r in self.instance.get_runs(RunsFilter(tags={"gwtm/event": event}))]

    def idle(self) -> bool:
        return instance_idle(self.instance)

    def settled(self) -> bool:
        """No run queued, starting or in progress (the products of a retried record run may come from either run)."""
        return instance_settled(self.instance)

    def product_keys(self) -> set[str]:
        client = boto3.client("s3", endpoint_url=self.s3.endpoint_url, region_name="us-east-2",
                              aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def graphql(self, query: str, variables: dict) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports['webserver']}/graphql",
                                         data=json.dumps({"query": query, "variables": variables}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except OSError as exc:
            logs = kubectl("logs", f"deploy/{RELEASE}-webserver", "--tail=30", check=False)
            raise AssertionError(f"the webserver: {exc}\n{describe()}\n{logs.stdout}{logs.stderr}") from exc


@contextmanager
def listeners_on_cluster(workdir: Path, timings: dict[str, float]) -> Iterator[Listeners]:
    """A cluster up, the project image in it, the test's servers, and the chart installed and Ready; all torn down
    after (``cluster.sh down``). ``timings`` gets the seconds of each step."""
    started = time.monotonic()
    timed("build the cluster (cached after the first)", timings, cluster, "build", timeout=1800)
    timed("image", timings, lambda: (base_images(), build_image()))
    cluster("down")
    timed("cluster up", timings, cluster, "up")
    try:
        timed("images into containerd", timings, cluster, "load", IMAGE, POSTGRES_IMAGE, timeout=900)
        with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
            broker, s3 = TansuBroker(), MotoS3Server()
            try:  # stopped however far the set-up got
                for topic in (LIGO_TOPIC, ICECUBE_TOPIC):
                    broker.create_topic(topic)
                boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-2", aws_access_key_id="test",
                             aws_secret_access_key="test").create_bucket(
                    Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})  # fmt: skip
                listeners = Listeners(api, broker, s3, workdir)
                ports = listeners.ports
                # The production secret, as gwtm-helm names it and its keys (the Kafka client empty: a plain broker).
                kubectl("create", "namespace", NAMESPACE)
                kubectl("create", "secret", "generic", "gwtm-listener-secrets", "--from-literal=kafka-client-id=",
                            "--from-literal=kafka-client-secret=", f"--from-literal=api-token={ADMIN_TOKEN}",
                            "--from-literal=aws-access-key-id=test", "--from-literal=aws-secret-access-key=test")  # fmt: skip
                endpoints = {
                    "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_OFFSET_RESET": "earliest",
                    "API_BASE": api.base, "AWS_ENDPOINT_URL": s3.endpoint_url, "DRY_RUN": "false",
                    "WRITE_TO_STORAGE": "true",
                }  # fmt: skip
                # This node has 2 cores: requests as the chart's would not fit beside the control plane.
                small = {"resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}
                values = {
                    "image": {"tag": "latest", "pullPolicy": "IfNotPresent"},
                    "hostNetwork": True,
                    "kubernetesApiServer": "127.0.0.1:6443",
                    "extraEnv": [{"name": k, "value": v} for k, v in endpoints.items()],
                    "postgresql": {**small, "port": ports["postgresql"], "persistence": {"enabled": False}},
                    **{component: {**small, "port": ports[component]}
                       for component in ("codeServer", "webserver", "runWorkers", "metrics")},
                    "daemon": small,
                    "runPods": small,
                }  # fmt: skip
                listeners.values_file.write_text(yaml.safe_dump(values))
                install = time.monotonic()
                helm("install", RELEASE, str(REPO / "deploy/helm/gwtm"),
                         "-f", str(REPO / "deploy/helm/gwtm/values-s3.yaml"), "-f", str(listeners.values_file))  # fmt: skip
                wait_for(lambda: all_ready(COMPONENTS), 420, "every pod Ready")
                timings["helm install to every pod Ready"] = round(time.monotonic() - install, 1)
                timings["set-up in all"] = round(time.monotonic() - started, 1)
                yield listeners
            finally:
                broker.stop()
                s3.stop()
    finally:
        cluster("down")
