"""The listeners' chart (``deploy/helm/gwtm``) on a real single-node Kubernetes, configured as deployed.

``scripts/kubernetes/cluster.sh`` builds (once per machine, cached under ``~/.cache/gwtm-k8s``) and starts a
v1.20 cluster; the project image goes into its containerd; ``helm install`` with the production values
(``values-s3.yaml``: the listeners' secret ``gwtm-listener-secrets`` and its keys), only the endpoints pointed at
this test's servers on loopback. Then, with every pod Ready: notices reach the API double as records once each,
the alert runs go to the warm pool, a backfill launched through the webserver's GraphQL runs as a Kubernetes
Job, the daemon pod deleted and a run-worker pod killed mid-run (its run resumed in place) lose nothing and post
nothing twice, a
``helm upgrade`` to a new image tag while notices arrive neither, and ``helm uninstall`` plus the cluster's
teardown leave nothing behind.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from dagster import DagsterRunStatus, RunsFilter
from dagster._daemon.monitoring import RESUME_RUN_LOG_MESSAGE

from gwtm_assets.devtools.daemon import engine_messages
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.run_tags import WORKER_TAG

from . import kubernetes_cluster as k8s
from .conftest import ICECUBE_SAMPLES
from .container_stack import IMAGE
from .kubernetes_cluster import COMPONENTS, ICECUBE_TOPIC, LIGO_TOPIC, new_event, superevent

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    return {}


@pytest.fixture(scope="module")
def listeners(tmp_path_factory, timings):
    reason = k8s.missing_piece()
    if reason:
        pytest.skip(f"no Kubernetes here: {reason}")
    with k8s.listeners_on_cluster(tmp_path_factory.mktemp("kubernetes"), timings) as listeners:
        yield listeners


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
    # ... forked with the pool's own instance: the daemon's launches name the instance the pool opened itself
    [pool] = k8s.component_pods("run-workers")
    said = k8s.kubectl("logs", pool["metadata"]["name"]).stdout
    instance_of_run = dict(re.findall(r"run ([0-9a-f-]+): worker pid \d+[^,\n]*, on ([^\"\n]+)", said))
    for run in runs:
        assert instance_of_run.get(run.run_id) == "the pool's instance", (run.run_id, said[-3000:])

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

    def job_of_the_run() -> dict:
        jobs = json.loads(k8s.kubectl("get", "jobs", "-o", "json").stdout)["items"]
        [job] = [j for j in jobs if run.run_id.split("-")[0] in j["metadata"]["name"]]
        return job

    k8s.wait_for(lambda: job_of_the_run()["status"].get("succeeded") == 1, 120, "the run's Job to complete")
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

    # 4. A run-worker pod killed mid-run: run monitoring resumes the run in place (a new warm worker, or a Job while
    #    the pool is recreated), so it keeps its place in its event's lane; its record posted once.
    victim = new_event(9)
    broker.produce(LIGO_TOPIC, [victim])
    event = superevent(victim)

    def running_warm() -> bool:
        return any(
            r.status == DagsterRunStatus.STARTED and r.tags.get(WORKER_TAG) == "warm" for r in listeners.runs_of(event)
        )

    def resumed() -> list:
        return [
            r for r in listeners.runs_of(event)
            if RESUME_RUN_LOG_MESSAGE in engine_messages(listeners.instance, r.run_id)
        ]  # fmt: skip

    k8s.wait_for(running_warm, 180, "a warm run of the victim notice", every_s=0.1)
    [pool] = k8s.component_pods("run-workers")
    k8s.kubectl("delete", "pod", pool["metadata"]["name"], "--grace-period=0", "--force")
    k8s.wait_for(resumed, 180, "run monitoring resuming the killed run")
    events.append(event)
    k8s.wait_for(lambda: listeners.posted_once(events), 420, "the killed run's record, by the resumed run")
    # Its products too, whichever run was killed (the record run before or after posting, or the products run).
    products = [f"test/{event}-Preliminary{suffix}" for suffix in ("_alert.json", ".fits.gz", "-contours-smooth.json")]
    k8s.wait_for(lambda: set(products) <= listeners.product_keys(), 420, "the killed notice's products")
    k8s.wait_for(listeners.settled, 420, "no run queued or in progress")
    k8s.wait_for(lambda: k8s.all_ready(("run-workers",)), 300, "the pool recreated")
    assert listeners.records() == dict.fromkeys(events, 1)
    runs = listeners.runs_of(event)
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, [(r.run_id, r.status) for r in runs]
    assert not [r for r in runs if "dagster/parent_run_id" in r.tags], "resumed in place, not run again"

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
    ours = [c for c in COMPONENTS if c != "postgresql"]

    def upgraded() -> bool:
        pods = [p for c in ours for p in k8s.component_pods(c)]
        return len(pods) == len(ours) and all(k8s.ready(p) and p["spec"]["containers"][0]["image"].endswith(":upgrade")
                                              for p in pods)  # fmt: skip

    k8s.wait_for(upgraded, 420, "every pod upgraded")
    timings["helm upgrade to every pod Ready"] = round(time.monotonic() - upgrade, 1)
    events += [superevent(raw) for raw in third]
    k8s.wait_for(lambda: listeners.posted_once(events), 420, "every record across the upgrade")
    # settled, not idle: since phase 4 one record run that posted has its products from its retry instead
    k8s.wait_for(listeners.settled, 300, "no run queued or in progress")
    assert listeners.records() == dict.fromkeys(events, 1)

    timings["test phases"] = round(time.monotonic() - test_started, 1)
    print("\ntimes (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))  # latency, memory: bench_kubernetes.py

    # 6. helm uninstall and the cluster torn down: no process, mount, namespace, bridge or iptables chain left.
    k8s.helm("uninstall", k8s.RELEASE, "--wait")
    k8s.wait_for(lambda: not any(k8s.component_pods(c) for c in COMPONENTS), 180, "every pod of the release gone")
    # The run pods' Jobs are Dagster's, not the release's (kept a day by its TTL): they go with the namespace.
    k8s.kubectl("delete", "namespace", k8s.NAMESPACE, "--wait=true", timeout=180)
    k8s.cluster("down")
    assert k8s.cluster("leftovers") == ""
