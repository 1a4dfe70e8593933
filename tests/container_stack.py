"""The image and the compose stack as an operator runs them: podman (Docker API), Debian's docker-compose.

Base images come from Debian packages (``scripts/containers/base-images.sh``), the project's image from its
Dockerfile as it is, the stack from docker-compose.yml as written. podman runs no health checks by itself
(no systemd timers here), so a thread runs ``podman healthcheck run`` for every container that has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/thetreasuremap/gwtm_cron:latest"
PROJECT = "gwtmtest"


def run(*command: str, timeout: float = 600, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def timed(what: str, timings: dict[str, float], function, *args, **kwargs):
    started = time.monotonic()
    try:
        return function(*args, **kwargs)
    finally:
        timings[what] = round(time.monotonic() - started, 1)


def base_images() -> None:
    run(
        "bash",
        str(REPO / "scripts/containers/base-images.sh"),
        timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},
    )


#: What the Dockerfile copies (less .dockerignore's exclusions): the image is current when these are unchanged.
IMAGE_INPUTS = ("Dockerfile", "pyproject.toml", "deploy/constraints.txt", "README.md", "workspace.yaml",
                "deploy/workspace.compose.yaml", "deploy/dagster.production.yaml", "gwtm_assets")  # fmt: skip
SOURCE_LABEL = "gwtm.source-digest"
BUILD_STAGE = "localhost/gwtm_cron-build-stage:latest"


def image_source_digest() -> str:
    digest = hashlib.sha256()
    for name in IMAGE_INPUTS:
        path = REPO / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if not file.is_file() or "__pycache__" in relative or relative.startswith("gwtm_assets/devtools"):
                continue
            digest.update(relative.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def build_image() -> None:
    """The Dockerfile as it is; ``--format docker`` keeps its HEALTHCHECK. The host's CA reaches pip by mounts.
    Skipped when the image was built from these very sources (its label): the container and Kubernetes tests
    both need it, and the prune below leaves no layer cache for a second build."""
    digest = image_source_digest()
    label = run("podman", "image", "inspect", "--format", f'{{{{ index .Labels "{SOURCE_LABEL}" }}}}', IMAGE,
                check=False).stdout.strip()  # fmt: skip
    if label == digest:
        return
    mounts = ("-v", "/etc/ssl/certs/ca-certificates.crt:/etc/host-ca.crt:ro",
              "-v", f"{REPO / 'scripts/containers/pip.conf'}:/etc/pip.conf:ro")  # fmt: skip
    # The build stage tagged: its dependency layer (~4 min of pip) survives the prune below and is reused.
    run("podman", "build", "--format", "docker", "--target", "build", "-t", BUILD_STAGE, *mounts, str(REPO),
        timeout=2400)  # fmt: skip
    run("podman", "build", "--format", "docker", "-t", IMAGE, "--label", f"{SOURCE_LABEL}={digest}", *mounts,
        str(REPO), timeout=2400)  # fmt: skip
    run("podman", "image", "prune", "--force", check=False)  # earlier builds' layers: ~1 GB each


class ComposeStack:
    """``docker-compose`` against ``podman system service``; ``with ComposeStack(env) as stack:``."""

    def __init__(self, env: dict[str, str], profiles: tuple[str, ...] = ("local",)):
        self.dir = Path(tempfile.mkdtemp(prefix="gwtm-compose-"))
        self.socket = self.dir / "podman.sock"
        self.env_file = self.dir / "stack.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.profiles = profiles
        self._stop = threading.Event()
        self._service: subprocess.Popen | None = None
        self._health: threading.Thread | None = None

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "COMPOSE_PROJECT_NAME": PROJECT}

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        profiles = [a for p in self.profiles for a in ("--profile", p)]
        return run(
            "docker-compose", "-f", str(REPO / "docker-compose.yml"), "--project-directory", str(REPO),
            "--env-file", str(self.env_file), *profiles, *args, timeout=timeout, check=check, env=self.environ,
        )  # fmt: skip

    def __enter__(self) -> Self:
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("podman's Docker API socket never appeared")
            time.sleep(0.2)
        self._health = threading.Thread(target=self._run_health_checks, daemon=True)
        self._health.start()
        return self

    def _run_health_checks(self) -> None:
        while not self._stop.wait(3):
            for name in self.containers(running_only=True):
                run("podman", "healthcheck", "run", name, check=False, timeout=60)

    def containers(self, running_only: bool = False) -> list[str]:
        args = ["podman", "ps", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={PROJECT}"]
        return run(*args, *([] if running_only else ["-a"]), check=False).stdout.split()

    def container(self, service: str) -> str:
        names = [n for n in self.containers() if n.startswith(f"{PROJECT}_{service}_")]
        if not names:
            raise RuntimeError(f"no container of {service}: {self.containers()}")
        return names[0]

    def state(self) -> dict[str, str]:
        """Service -> health (healthy/starting/unhealthy) or, without a health check, status (running/exited)."""
        states = {}
        for name in self.containers():
            info = json.loads(run("podman", "inspect", name).stdout)[0]
            service = info["Config"]["Labels"]["com.docker.compose.service"]
            health = (info["State"].get("Health") or info["State"].get("Healthcheck") or {}).get("Status")
            states[service] = health or info["State"]["Status"]
        return states

    def exec(self, service: str, *command: str, stdin: bytes | None = None, timeout: float = 120) -> str:
        result = subprocess.run(
            ["podman", "exec", "-i", self.container(service), *command], input=stdin, capture_output=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"exec in {service} failed: {result.stderr.decode(errors='replace')[-2000:]}")
        return result.stdout.decode()

    def logs(self, service: str) -> str:
        return run("podman", "logs", "--tail", "200", self.container(service), check=False).stdout

    def down(self) -> None:
        for _ in range(3):  # containers sharing a PID namespace may be removed in the wrong order the first time
            self.compose("down", "-v", "--remove-orphans", "-t", "20", check=False, timeout=300)
            if not self.containers():
                break

    def leftovers(self) -> dict[str, list[str]]:
        volumes = run("podman", "volume", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        return {"containers": self.containers(), "volumes": [v for v in volumes if v.startswith(f"{PROJECT}_")]}

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self.down()
        finally:
            if self._service is not None:
                os.killpg(self._service.pid, signal.SIGTERM)
                self._service.wait(timeout=30)
            shutil.rmtree(self.dir, ignore_errors=True)


#: Publishes the notices given on stdin (JSON list of [topic, latin-1 text]) from inside the stack.
PUBLISH = """
import json, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
messages = json.load(sys.stdin)
admin = AdminClient({"bootstrap.servers": "tansu:9092"})
topics = sorted({t for t, _ in messages})
for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
    try:
        future.result(30)
    except Exception:
        pass  # already there
producer = Producer({"bootstrap.servers": "tansu:9092", "message.max.bytes": 8000000})
for topic, text in messages:
    producer.produce(topic, text.encode("latin-1"))
assert producer.flush(60) == 0
"""

#: Lists the objects of the stack's S3 store, from inside the stack.
LIST_OBJECTS = """
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_DEFAULT_REGION"])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["AWS_BUCKET"]):
    for item in page.get("Contents", []):
        print(item["Key"])
"""

#: How each run of the stack's instance was started: "warm" (the run-worker pool) or "cold", and its status.
RUN_WORKERS_OF_RUNS = """
import json
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    print(json.dumps([[run.tags.get("gwtm/run-worker", "cold"), run.status.value] for run in instance.get_runs()]))
"""
