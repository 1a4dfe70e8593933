"""Warm run workers as deployed: the daemon's WarmRunLauncher hands runs to ``gwtm-cron run-workers``.

A run goes to a warm worker and posts its record once; a worker killed mid-run
is seen by run monitoring through the pool and its run resumed in place in a
new warm worker (one record); a run terminated while it posts ends CANCELED,
its record not posted; with no pool the run starts cold, a cold worker killed
mid-run is resumed in a new process, and nothing is lost; the Kubernetes
launcher uses the same pool.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from gwtm_assets.devtools.daemon import engine_messages, wait_for
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.run_tags import WORKER_PID_TAG, WORKER_TAG
from gwtm_assets.runtime.run_workers import RunWorkerPoolClient, default_address

from .conftest import sample
from .test_daemon import POOL_TOKEN, broker, stream  # noqa: F401 - the daemon's fixtures

pytestmark = pytest.mark.timeout(900)


def run_of(daemon, partition_key: str):
    """The partition's latest run (the instance lists newest first)."""
    runs = [r for r in daemon.runs() if r.tags.get("dagster/partition") == partition_key]
    return runs[0] if runs else None


def run_to_success(daemon, kafka, topic: str, notice: bytes, timeout_s: float = 240):
    """Produce ``notice`` and return its partition's run once it succeeded."""
    kafka.produce(topic, [notice])
    key = parse_ligo_notice(notice).partition_key
    wait_for(
        lambda: (r := run_of(daemon, key)) and r.status == DagsterRunStatus.SUCCESS, timeout_s, f"the run of {key}"
    )
    return run_of(daemon, key)


def stalled_run(daemon, kafka, topic: str, api_server, notice: bytes):
    """Produce ``notice`` and return its record run once it is posting (the post stalls 20 s, then is cut off)."""
    cut = api_server.posts_cut("post_alert")
    api_server.cut_post("post_alert", 20)
    kafka.produce(topic, [notice])
    wait_for(lambda: api_server.posts_cut("post_alert") > cut, 180, "the record being posted")
    run = run_of(daemon, parse_ligo_notice(notice).partition_key)
    assert run.status == DagsterRunStatus.STARTED
    return run


def resumed_in_place(daemon, victim, how: str):
    """``victim``'s run once it finished: a success, resumed (an engine event says ``how``), not run again."""
    run = wait_for(lambda: (r := daemon.instance.get_run_by_id(victim.run_id)).is_finished and r, 300, "the run")
    assert run.status == DagsterRunStatus.SUCCESS
    assert any(how in m for m in engine_messages(daemon.instance, victim.run_id))
    assert not [r for r in daemon.runs() if r.tags.get("dagster/parent_run_id")], "resumed in place, not run again"
    return run


def test_runs_go_to_warm_workers_and_a_killed_workers_run_is_resumed_in_a_new_one(stream, broker, api_server):  # noqa: F811
    daemon, ligo_topic, _ = stream
    daemon.start()
    pool = RunWorkerPoolClient(default_address(str(daemon.home)), token=POOL_TOKEN)
    wait_for(lambda: _answers(pool), 120, "the run-worker pool")

    run = run_to_success(daemon, broker, ligo_topic, sample("MS181101ab-preliminary").read_bytes())
    assert run.tags[WORKER_TAG] == "warm"
    # The worker exits with its run (a moment after the run's success is written, longer on a loaded machine).
    wait_for(lambda: not pool.alive(int(run.tags[WORKER_PID_TAG])), 30, "the worker exiting with its run")
    assert any("Run handed to warm worker" in m for m in engine_messages(daemon.instance, run.run_id))
    # The worker ran on the pool's own instance (open_kept_instance), not one it made: the launcher named the same.
    assert pool.ping()["runs_on_kept_instance"] >= 1
    # and imported nothing the pool could have imported once (its log names what a run imports after the fork)
    late = [line for line in daemon.log_path.read_text(errors="replace").splitlines()
            if run.run_id in line and "modules the pool had not" in line]  # fmt: skip
    assert not late, late

    # Killed while it posts its record (a worker dying while STARTING has no health check: start_timeout_seconds).
    slow = sample("S230518h-preliminary").read_bytes()
    victim = stalled_run(daemon, broker, ligo_topic, api_server, slow)
    killed = victim.tags[WORKER_PID_TAG]
    os.kill(int(killed), signal.SIGKILL)
    resumed = resumed_in_place(daemon, victim, "Run resumed in warm worker")
    assert resumed.tags[WORKER_PID_TAG] != killed and resumed.tags[WORKER_TAG] == "warm"
    assert pool.ping()["runs"] >= 3
    posted = [r.body["graceid"] for r in api_server.state.posted("post_alert")]
    assert posted.count("S230518h") == 1 and posted.count("MS181101ab") == 1

    # Terminated from the UI while it posts its record: the pool interrupts the worker, the run ends CANCELED and
    # the record is not posted again (Dagster retries an interrupted step that has a retry policy, unless the
    # interrupt is the run's terminate: assets/common.RunTerminated).
    terminated = stalled_run(daemon, broker, ligo_topic, api_server, slow.replace(b'"S230518h"', b'"S230518z"'))
    assert daemon.instance.run_launcher.terminate(terminated.run_id)
    run = wait_for(lambda: (r := daemon.instance.get_run_by_id(terminated.run_id)).is_finished and r, 120, "the run")
    assert run.status == DagsterRunStatus.CANCELED
    assert "S230518z" not in [r.body["graceid"] for r in api_server.state.posted("post_alert")]


def test_the_pool_health_check_says_when_nothing_answers():
    result = subprocess.run([str(Path(sys.executable).parent / "gwtm-cron"), "run-workers", "--check", "--listen",
                             "unix:@gwtm-no-such-pool"], capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("gwtm-cron run-workers: run-worker pool at unix:@gwtm-no-such-pool:")
    assert "Traceback" not in result.stderr


def test_without_the_pool_runs_start_in_a_new_process(stream, broker, api_server):  # noqa: F811
    daemon, ligo_topic, _ = stream
    daemon.start(run_workers=False)
    run = run_to_success(daemon, broker, ligo_topic, sample("MS181101ab-preliminary").read_bytes())
    assert WORKER_TAG not in run.tags
    assert any("Warm run workers unavailable" in m for m in engine_messages(daemon.instance, run.run_id))
    assert len(api_server.state.posted("post_alert")) == 1

    # The daemon and its code server killed with a cold run posting (a live code server fails a run whose process
    # died itself): after the restart run monitoring resumes it in a new process of this host, one record.
    launcher = daemon.instance.run_launcher
    victim = stalled_run(daemon, broker, ligo_topic, api_server, sample("S230518h-preliminary").read_bytes())
    killed = launcher.run_worker_pid(victim)
    daemon.kill()
    daemon.start(run_workers=False)
    resumed = resumed_in_place(daemon, victim, "Resuming the run in a new process")
    assert launcher.run_worker_pid(resumed) != killed
    assert [r.body["graceid"] for r in api_server.state.posted("post_alert")].count("S230518h") == 1


def test_the_kubernetes_launcher_uses_the_same_pool(stream, broker, api_server, tmp_path):  # noqa: F811
    daemon, ligo_topic, _ = stream
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    config = daemon.home / "dagster.yaml"
    text = config.read_text()
    launcher = text[text.index("run_launcher:") : text.index("\n\n", text.index("run_launcher:"))]
    config.write_text(text.replace(launcher, K8S_LAUNCHER.format(kubeconfig=kubeconfig)))
    daemon.start()
    run = run_to_success(daemon, broker, ligo_topic, sample("MS181101ab-preliminary").read_bytes())
    assert run.tags[WORKER_TAG] == "warm"
    assert any(
        m.startswith("[K8sWarmRunLauncher] Run handed to warm worker")
        for m in engine_messages(daemon.instance, run.run_id)
    )


def _answers(pool: RunWorkerPoolClient) -> bool:
    try:
        return bool(pool.ping())
    except ConnectionError:
        return False


#: K8sRunLauncher's required options with an unreachable cluster: only the warm path may run.
K8S_LAUNCHER = """run_launcher:
  module: gwtm_assets.runtime.run_launcher_k8s
  class: K8sWarmRunLauncher
  config:
    service_account_name: gwtm
    instance_config_map: gwtm-dagster-instance
    load_incluster_config: false
    kubeconfig_file: {kubeconfig}
    job_namespace: gwtm"""

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def test_the_kubernetes_launcher_loads_in_a_pod_without_a_token_and_says_why_it_cannot_create_a_job(tmp_path):
    """With resumes on, Dagster builds the launcher in every process that opens the instance: the pool's workers,
    the code server and the metrics exporter get no service-account token, and must still open it."""
    from dagster import DagsterInstance, DagsterRun
    from kubernetes.config.incluster_config import SERVICE_TOKEN_FILENAME

    from gwtm_assets.runtime.run_launcher_k8s import NoClusterCredentials

    assert not Path(SERVICE_TOKEN_FILENAME).exists(), "this test needs a process without a token"
    incluster = K8S_LAUNCHER.replace("    load_incluster_config: false\n    kubeconfig_file: {kubeconfig}\n", "")
    (tmp_path / "dagster.yaml").write_text(
        f"{incluster}\nrun_monitoring:\n  enabled: true\n  max_resume_run_attempts: 2\n"
    )
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        launcher = instance.run_launcher
        assert launcher.supports_resume_run and launcher.credentials_missing
        with pytest.raises(NoClusterCredentials, match="no service-account token"):
            launcher._launch_k8s_job_with_args("dagster-run-x", ["true"], DagsterRun(job_name="job", run_id="x"))
