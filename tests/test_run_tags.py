"""Every run of a notice partition carries its event tag, however it is started: the UI's Materialize, a backfill."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import requests
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from gwtm_assets.devtools.daemon import REPO, wait_for
from gwtm_assets.devtools.tansu import free_port
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.history import land
from gwtm_assets.notices.ligo import parse_ligo_notice

from .conftest import sample

REPOSITORY = {"repositoryLocationName": "gwtm_assets.definitions", "repositoryName": "__repository__"}
LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


def test_ui_materialize_and_backfill_runs_get_the_event_tag(tmp_path):
    home, storage = tmp_path / "home", tmp_path / "storage"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": str(storage)}
    notices = [parse_ligo_notice(sample(n).read_bytes()) for n in ("S230518h-preliminary", "MS181101ab-initial")]
    for notice in notices:
        land(LocalObjectStore(storage), notice)
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        instance = DagsterInstance.get()
        instance.add_dynamic_partitions("gw_alerts", [n.partition_key for n in notices])
    finally:
        del os.environ["DAGSTER_HOME"]
    bin_dir = Path(sys.executable).parent
    port = free_port()
    module = ["-m", "gwtm_assets.definitions"]
    ui = subprocess.Popen([str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), *module], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", *module], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        graphql = f"http://127.0.0.1:{port}/graphql"

        def post(query, variables):
            try:
                return requests.post(graphql, json={"query": query, "variables": variables}, timeout=30).json()
            except (requests.RequestException, ValueError):
                return None

        materialize = {
            "selector": {**REPOSITORY, "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["raw_alert"]}]},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": notices[0].partition_key}]},
        }
        answer = wait_for(lambda: post(LAUNCH_RUN, {"params": materialize}), 120, "the UI's GraphQL")
        assert answer["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", answer
        backfill = {"partitionNames": [notices[1].partition_key], "assetSelection": [{"path": ["raw_alert"]}]}
        answer = post(BACKFILL, {"params": backfill})
        assert answer["data"]["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", answer

        def runs():
            with_tags = {}
            for run in DagsterInstance.from_ref(instance.get_ref()).get_runs():
                if run.status != DagsterRunStatus.NOT_STARTED:  # submitted: past the run queue's coordinator
                    with_tags[run.tags.get("dagster/partition")] = run.tags
            return with_tags if len(with_tags) == 2 else None

        tags = wait_for(runs, 180, "the Materialize run and the backfill's run")
        assert tags[notices[0].partition_key]["gwtm/event"] == "S230518h"
        assert tags[notices[1].partition_key]["gwtm/event"] == "MS181101ab"
        assert "dagster/backfill" in tags[notices[1].partition_key]
    finally:
        for process in (ui, daemon):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def test_cli_materialize_run_gets_the_event_tag(tmp_path):
    """``dagster asset materialize`` runs in-process, outside the queue: the instance tags it at creation."""
    home, storage = tmp_path / "home", tmp_path / "storage"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": str(storage)}
    notice = parse_ligo_notice(sample("MS181101ab-preliminary").read_bytes())
    land(LocalObjectStore(storage), notice)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.add_dynamic_partitions("gw_alerts", [notice.partition_key])
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "gwtm_assets.definitions",
               "--select", "raw_alert", "--partition", notice.partition_key]  # fmt: skip
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = DagsterInstance.from_ref(InstanceRef.from_dir(str(home))).get_runs()
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == notice.partition_key
    assert run.tags["gwtm/event"] == "MS181101ab"
