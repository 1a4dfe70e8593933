"""The listeners' chart (``deploy/helm/gwtm``) on a real single-node Kubernetes, configured as deployed.

``scripts/kubernetes/cluster.sh`` builds (once per machine, cached under ``~/.cache/gwtm-k8s``) and starts a
v1.20 cluster; the project image goes into its containerd; ``helm install`` with the production values
(``values-s3.yaml``: the listeners' secret ``gwtm-listener-secrets`` and its keys), only the endpoints pointed at
this test's servers on loopback. Then, with every pod Ready: notices reach the API double as records once each,
the alert runs go to the warm pool, a backfill launched through the webserver's GraphQL runs as a Kubernetes
Job, the daemon pod deleted and a run-worker pod killed mid-run lose nothing and post nothing twice, a
``helm upgrade`` to a new image tag while notices arrive neither, and ``helm uninstall`` plus the cluster's
teardown leave nothing behind.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import boto3
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from gwtm_assets.devtools.daemon import instance_idle
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import TansuBroker, free_port
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.run_tags import WORKER_TAG

from . import kubernetes_cluster as k8s
from .conftest import ADMIN_TOKEN, ICECUBE_SAMPLES, sample
from .container_stack import IMAGE, base_images, build_image, timed
from .storage_servers import MotoS3Server

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.timeout(2400)]

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
    """The installed release and the test's servers; what the test reads back."""

    def __init__(self, api: GWTMApiTestServer, broker: TansuBroker, s3: MotoS3Server, home: Path, pg_port: int):
        self.api, self.broker, self.s3, self.home, self.pg_port = api, broker, s3, home, pg_port
        self._instance: DagsterInstance | None = None

    @property
    def instance(self) -> DagsterInstance:
        if self._instance is None:
            (self.home / "dagster.yaml").write_text(yaml.safe_dump({
                "telemetry": {"enabled": False},
                "storage": {"postgres": {"postgres_db": {
                    "hostname": "127.0.0.1", "port": self.pg_port, "username": "dagster", "db_name": "dagster",
                    "password": k8s.secret_value(f"{k8s.RELEASE}-postgresql", "postgresql-password")}}},
            }))  # fmt: skip
            self._instance = DagsterInstance.from_config(str(self.home))
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

    def product_keys(self) -> set[str]:
        client = boto3.client("s3", endpoint_url=self.s3.endpoint_url, region_name="us-east-2",
                              aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def graphql(self, query: str, variables: dict) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.web_port}/graphql",
                                         data=json.dumps({"query": query, "variables": variables}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except OSError as exc:
            logs = k8s.kubectl("logs", f"deploy/{k8s.RELEASE}-webserver", "--tail=30", check=False)
            raise AssertionError(f"the webserver: {exc}\n{k8s.describe()}\n{logs.stdout}{logs.stderr}") from exc

    web_port = 0


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    return {}


@pytest.fixture(scope="module")
def listeners(tmp_path_factory, timings):
    reason = k8s.missing_piece()
    if reason:
        pytest.skip(f"no Kubernetes here: {reason}")
    started = time.monotonic()
    timed("build the cluster (cached after the first)", timings, k8s.cluster, "build", timeout=1800)
    timed("image", timings, lambda: (base_images(), build_image()))
    k8s.cluster("down")
    timed("cluster up", timings, k8s.cluster, "up")
    try:
        timed("images into containerd", timings, k8s.cluster, "load", IMAGE, k8s.POSTGRES_IMAGE, timeout=900)
        with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
            broker, s3 = TansuBroker(), MotoS3Server()
            for topic in (LIGO_TOPIC, ICECUBE_TOPIC):
                broker.create_topic(topic)
            boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-2", aws_access_key_id="test",
                         aws_secret_access_key="test").create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})  # fmt: skip
            ports = {"postgresql": free_port(), "codeServer": free_port(), "webserver": free_port(),
                     "runWorkers": free_port(), "metrics": free_port()}  # fmt: skip
            listeners = Listeners(api, broker, s3, tmp_path_factory.mktemp("instance"), ports["postgresql"])
            listeners.web_port = ports["webserver"]
            # The production secret, as gwtm-helm names it and its keys (the Kafka client empty: a plain broker).
            k8s.kubectl("create", "namespace", k8s.NAMESPACE)
            k8s.kubectl("create", "secret", "generic", "gwtm-listener-secrets", "--from-literal=kafka-client-id=",
                        "--from-literal=kafka-client-secret=", f"--from-literal=api-token={ADMIN_TOKEN}",
                        "--from-literal=aws-access-key-id=test", "--from-literal=aws-secret-access-key=test")  # fmt: skip
            endpoints = {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_OFFSET_RESET": "earliest",
                "API_BASE": api.base, "AWS_ENDPOINT_URL": s3.endpoint_url, "DRY_RUN": "false",
                "WRITE_TO_STORAGE": "true",
            }  # fmt: skip
            values = {
                "image": {"tag": "latest", "pullPolicy": "IfNotPresent"},
                "hostNetwork": True, "kubernetesApiServer": "127.0.0.1:6443",
                "extraEnv": [{"name": k, "value": v} for k, v in endpoints.items()],
                "postgresql": {"port": ports["postgresql"], "persistence": {"enabled": False}},
                "codeServer": {"port": ports["codeServer"]}, "webserver": {"port": ports["webserver"]},
                "runWorkers": {"port": ports["runWorkers"]}, "metrics": {"port": ports["metrics"]},
                # This node has 2 cores: requests as the chart's would not fit beside the control plane.
                **{c: {"resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}
                   for c in ("codeServer", "webserver", "daemon", "runWorkers", "metrics", "runPods")},
            }  # fmt: skip
            values["postgresql"]["resources"] = {"requests": {"cpu": "10m", "memory": "64Mi"}}
            listeners.values_file = tmp_path_factory.mktemp("values") / "test-values.yaml"
            listeners.values_file.write_text(yaml.safe_dump(values))
            install = time.monotonic()
            k8s.helm("install", k8s.RELEASE, str(k8s.REPO / "deploy/helm/gwtm"),
                     "-f", str(k8s.REPO / "deploy/helm/gwtm/values-s3.yaml"), "-f", str(listeners.values_file))  # fmt: skip
            k8s.wait_for(lambda: k8s.all_ready(COMPONENTS), 420, "every pod Ready")
            timings["helm install to every pod Ready"] = round(time.monotonic() - install, 1)
            timings["set-up in all"] = round(time.monotonic() - started, 1)
            yield listeners
            broker.stop()
            s3.stop()
    finally:
        k8s.cluster("down")


def test_the_chart_runs_the_listeners_on_a_real_cluster(listeners, timings):
    test_started = time.monotonic()
    api, broker = listeners.api, listeners.broker

    # 1. LIGO and IceCube notices -> records, once each; products in the object store; alert runs on warm workers.
    first = [new_event(i) for i in range(3)]
    broker.produce(LIGO_TOPIC, first)
    broker.produce(ICECUBE_TOPIC, [p.read_bytes() for p in ICECUBE_SAMPLES])
    events = [superevent(raw) for raw in first]
    k8s.wait_for(lambda: listeners.posted_once(events), 300, "the first records")
    k8s.wait_for(lambda: len(api.state.posted("post_icecube_notice")) >= 2, 180, "the IceCube records")
    k8s.wait_for(listeners.idle, 300, "every run finished")
    assert listeners.records() == dict.fromkeys(events, 1)
    keys = listeners.product_keys()
    for event in events:
        for suffix in ("_alert.json", ".fits.gz", "_moc.fits.gz", "-contours-smooth.json"):
            assert f"test/{event}-Preliminary{suffix}" in keys, (suffix, sorted(k for k in keys if event in k))
    runs = [r for e in events for r in listeners.runs_of(e)]
    assert runs and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    assert {r.tags.get(WORKER_TAG) for r in runs} == {"warm"}, [r.tags for r in runs]

    # 2. A backfill through the webserver's GraphQL: a Kubernetes Job pod (K8sRunLauncher) that completes.
    partition = parse_ligo_notice(first[0]).partition_key
    launched = listeners.graphql(
        """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
             __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
        {"p": {"partitionNames": [partition], "assetSelection": [{"path": ["moc"]}]}},
    )["data"]["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]

    def backfill_runs() -> list:
        return listeners.instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill}))

    k8s.wait_for(lambda: any(r.status == DagsterRunStatus.SUCCESS for r in backfill_runs()), 420, "the backfill run")
    [run] = backfill_runs()
    assert run.tags.get(WORKER_TAG) != "warm"
    jobs = json.loads(k8s.kubectl("get", "jobs", "-o", "json").stdout)["items"]
    [job] = [j for j in jobs if run.run_id.split("-")[0] in j["metadata"]["name"]]
    assert job["status"].get("succeeded") == 1, job["status"]
    assert listeners.records() == dict.fromkeys(events, 1)  # re-materializing a product posts nothing

    # 3. The daemon pod deleted mid-stream: recreated (Recreate, one replica), every record still posted once.
    second = [new_event(i) for i in range(3, 9)]
    broker.produce(LIGO_TOPIC, second[:3])
    k8s.wait_for(lambda: listeners.records().get(superevent(second[0])), 120, "a record of the second batch")
    [daemon] = k8s.component_pods("daemon")
    k8s.kubectl("delete", "pod", daemon["metadata"]["name"], "--wait=false")
    broker.produce(LIGO_TOPIC, second[3:])
    k8s.wait_for(lambda: (p := k8s.component_pods("daemon")) and p[0]["metadata"]["uid"] != daemon["metadata"]["uid"]
                 and k8s.ready(p[0]), 300, "the daemon recreated")  # fmt: skip
    events += [superevent(raw) for raw in second]
    k8s.wait_for(lambda: listeners.posted_once(events), 420, "every record after the daemon came back")
    k8s.wait_for(listeners.idle, 300, "every run finished")
    assert listeners.records() == dict.fromkeys(events, 1)

    # 4. A run-worker pod killed mid-run: run monitoring fails the run, the retry posts the record once.
    victim = new_event(9)
    broker.produce(LIGO_TOPIC, [victim])
    event = superevent(victim)

    def running_warm() -> bool:
        return any(
            r.status == DagsterRunStatus.STARTED and r.tags.get(WORKER_TAG) == "warm" for r in listeners.runs_of(event)
        )

    k8s.wait_for(running_warm, 180, "a warm run of the victim notice", every_s=0.1)
    [pool] = k8s.component_pods("run-workers")
    k8s.kubectl("delete", "pod", pool["metadata"]["name"], "--grace-period=0", "--force")
    k8s.wait_for(lambda: any(r.status == DagsterRunStatus.FAILURE for r in listeners.runs_of(event)), 180,
                 "run monitoring failing the killed run")  # fmt: skip
    events.append(event)
    k8s.wait_for(lambda: listeners.posted_once(events), 420, "the killed run's record, by its retry")
    k8s.wait_for(listeners.idle, 420, "every run finished")
    k8s.wait_for(lambda: k8s.all_ready(("run-workers",)), 300, "the pool recreated")
    assert listeners.records() == dict.fromkeys(events, 1)
    retried = [r for r in listeners.runs_of(event) if r.tags.get("dagster/parent_run_id")]
    assert retried and any(r.status == DagsterRunStatus.SUCCESS for r in retried)

    # 5. helm upgrade to a new image tag while notices arrive: nothing lost, nothing doubled.
    k8s.tag_image(IMAGE, f"{k8s.IMAGE_REPOSITORY}:upgrade")
    third = [new_event(i) for i in range(10, 16)]
    producer = threading.Thread(target=lambda: [(broker.produce(LIGO_TOPIC, [raw]), time.sleep(4)) for raw in third])
    producer.start()
    upgrade = time.monotonic()
    k8s.helm("upgrade", k8s.RELEASE, str(k8s.REPO / "deploy/helm/gwtm"), "-f",
             str(k8s.REPO / "deploy/helm/gwtm/values-s3.yaml"), "-f", str(listeners.values_file),
             "--set", "image.tag=upgrade")  # fmt: skip
    producer.join()
    k8s.wait_for(lambda: k8s.all_ready(COMPONENTS) and all(
        c["image"].endswith(":upgrade") for p in k8s.pods() for c in p["spec"]["containers"]
        if p["metadata"]["labels"].get("app.kubernetes.io/component") != "postgresql"), 420, "every pod upgraded")  # fmt: skip
    timings["helm upgrade to every pod Ready"] = round(time.monotonic() - upgrade, 1)
    events += [superevent(raw) for raw in third]
    k8s.wait_for(lambda: listeners.posted_once(events), 420, "every record across the upgrade")
    k8s.wait_for(listeners.idle, 300, "every run finished")
    assert listeners.records() == dict.fromkeys(events, 1)

    # 6. Notice -> record on the cluster, one notice at a time (warm pool), and the pods' peak memory.
    latencies = []
    for index in range(16, 26):
        raw = new_event(index)
        produced = time.monotonic()
        broker.produce(LIGO_TOPIC, [raw])
        k8s.wait_for(lambda raw=raw: listeners.records().get(superevent(raw)), 120, "a record", every_s=0.02)
        latencies.append(time.monotonic() - produced)
        events.append(superevent(raw))
        k8s.wait_for(listeners.idle, 120, "the notice's runs finished")
    assert listeners.records() == dict.fromkeys(events, 1)
    memory = {p["metadata"]["labels"]["app.kubernetes.io/component"]: k8s.peak_memory_mib(p) for p in k8s.pods()}
    timings["test phases"] = round(time.monotonic() - test_started, 1)
    print(
        f"\nnotice -> record on the cluster (10, warm pool): p50 {median(latencies):.2f} s, max {max(latencies):.2f} s"
    )
    print(
        "pods' peak memory (MiB, since the upgrade): "
        + ", ".join(f"{c} {m:.0f}" for c, m in sorted(memory.items()) if m is not None)
    )
    print("times (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))

    # 7. helm uninstall and the cluster torn down: no process, mount, namespace, bridge or iptables chain left.
    k8s.helm("uninstall", k8s.RELEASE, "--wait")
    k8s.wait_for(lambda: not k8s.pods(), 180, "every pod of the release gone")
    k8s.kubectl("delete", "namespace", k8s.NAMESPACE, "--wait=true", timeout=180)
    k8s.cluster("down")
    assert k8s.cluster("leftovers") == ""
