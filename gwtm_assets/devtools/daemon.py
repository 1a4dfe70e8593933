"""A real ``dagster-daemon`` for tests and benchmarks: its own DAGSTER_HOME (this repository's dagster.yaml), our workspace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from ..run_tags import STAGE_TAG

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.25) -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _signal_group(pid: int, signum: int) -> bool:
    """Signal the process group led by ``pid``; False if it is gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _waited(process: subprocess.Popen, timeout_s: float) -> bool:
    """Whether ``process`` exited within ``timeout_s``."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


class DagsterDaemon:
    """``dagster-daemon run -w workspace.yaml`` in its own process group, with ``env`` on top of ours."""

    def __init__(self, home: Path, env: dict[str, str], instance_config: str | None = None) -> None:
        """``instance_config``: the instance's dagster.yaml (default: this repository's)."""
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        if instance_config is None:
            shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        else:
            (home / "dagster.yaml").write_text(instance_config)
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
        self.log_path = home / "daemon.log"
        self.process: subprocess.Popen | None = None
        self.pool: subprocess.Popen | None = None
        saved = dict(os.environ)
        os.environ.update(env)  # the instance's config may read them (DAGSTER_PG_*)
        try:
            self.instance = DagsterInstance.from_config(str(home))
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start(self, command: tuple[str, ...] = ("gwtm-cron", "daemon"), run_workers: bool = True) -> DagsterDaemon:
        """Start ``gwtm-cron daemon`` as deployed (or ``("dagster-daemon", "run")``, ``("dagster", "dev", "-p",
        "3000")``) on our workspace, and the
        warm run-worker pool of dagster.yaml's launcher (its own process group) unless ``run_workers`` is off."""
        executable = Path(sys.executable).parent / command[0]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(executable), *command[1:], "-w", str(REPO / "workspace.yaml")],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            if run_workers:
                self.pool = subprocess.Popen(
                    [str(Path(sys.executable).parent / "gwtm-cron"), "run-workers"],
                    cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        return self

    @property
    def started(self) -> subprocess.Popen:
        """The process ``start`` began (an error before it)."""
        if self.process is None:
            raise RuntimeError("DagsterDaemon.start() was not called")
        return self.process

    def kill_when_no_run_is_being_launched(self, timeout_s: float = 15) -> None:
        """``kill``, at a moment when no run is STARTING: the daemon (which alone moves runs to STARTING) is frozen
        (SIGSTOP) before runs are checked, so none can start between the check and the kill; thawed to try again."""
        deadline = time.monotonic() + timeout_s
        while True:
            _signal_group(self.started.pid, signal.SIGSTOP)
            if not self.runs(DagsterRunStatus.STARTING):
                self.kill()
                return
            _signal_group(self.started.pid, signal.SIGCONT)
            if time.monotonic() > deadline:
                raise TimeoutError(f"a run was still being launched after {timeout_s} s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the daemon, its code server, the run-worker pool and every run worker (their process groups)."""
        os.killpg(self.started.pid, signal.SIGKILL)
        self.started.wait(timeout=30)
        self._stop_pool(grace_s=0)

    def _stop_pool(self, grace_s: float = 3) -> None:
        """SIGTERM the pool's group (pool and workers) and wait ``grace_s``; then SIGKILL (at once if 0)."""
        if self.pool is None:
            return
        if grace_s:
            _signal_group(self.pool.pid, signal.SIGTERM)
            if _waited(self.pool, grace_s):
                return
        _signal_group(self.pool.pid, signal.SIGKILL)
        _waited(self.pool, 10)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM the daemon (as Kubernetes does) and return its exit code."""
        self.started.send_signal(signal.SIGTERM)
        try:
            return self.started.wait(timeout=timeout_s)
        finally:
            self.stop_group()

    def stop_all(self, grace_s: float = 6) -> None:
        """SIGTERM the whole process group (dagster dev, its webserver, daemon, code server, run workers) and the
        run-worker pool's, then SIGKILL what is left after ``grace_s``. Never raises."""
        if not _signal_group(self.started.pid, signal.SIGTERM):
            return
        if self.pool is not None:  # at the same time: the pool's workers stop with their runs' daemon
            _signal_group(self.pool.pid, signal.SIGTERM)
        _waited(self.started, grace_s)
        self.stop_group()
        _waited(self.started, 5)

    def stop_group(self) -> None:
        _signal_group(self.started.pid, signal.SIGKILL)
        self._stop_pool()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # What the instance holds ------------------------------------------------

    def runs(self, *statuses: DagsterRunStatus):
        return self.instance.get_runs(RunsFilter(statuses=list(statuses)) if statuses else None)

    def idle(self) -> bool:
        return instance_idle(self.instance)

    def ready(self, sensors: tuple[str, ...] = ("ligo_alert_sensor", "ligo_products_sensor")) -> bool:
        """Whether the stack is up: the run-worker pool (if started) answers, and each of ``sensors`` has ticked (its
        code server loaded, its consumer polled once). A notice produced before that measures start-up."""
        from ..runtime.run_workers import PoolUnavailable, RunWorkerPoolClient, default_address

        if self.pool is not None:
            address = self.env.get("RUN_WORKERS_ADDRESS") or default_address(str(self.home))
            try:
                RunWorkerPoolClient(address, timeout_s=1.0, token=self.env.get("RUN_WORKERS_TOKEN", "")).ping()
            except PoolUnavailable:
                return False
        return all(self.sensor_ticks(name, limit=1) for name in sensors)

    def sensor_ticks(self, name: str, limit: int | None = None) -> list:
        """The ticks of sensor ``name``, newest first (none before the daemon has seen it)."""
        from dagster._core.scheduler.instigation import InstigatorType

        for state in self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == name:
                return list(self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=limit))
        return []

    def failed_runs(self) -> list[str]:
        """One line per failed run: its partition, stage and what failed it (the run's and steps' failure messages),
        what an operator reads first in the UI."""
        failures = (DagsterEventType.RUN_FAILURE, DagsterEventType.STEP_FAILURE, DagsterEventType.ENGINE_EVENT)
        lines = []
        for run in self.runs(DagsterRunStatus.FAILURE):
            records = self.instance.all_logs(run.run_id, of_type=set(failures))
            messages = [r.dagster_event.message or "" for r in records if r.dagster_event]
            lines.append(f"{run.tags.get('dagster/partition')} {run.tags.get(STAGE_TAG, 'record')}: {messages}")
        return lines

    def materialized_partitions(self, asset: str) -> list[str]:
        """Partition keys of every materialization of ``asset`` (repeats mean re-materializations)."""
        return [partition for partition, _ in self.materializations(asset)]

    def materializations(self, asset: str) -> list[tuple[str, float]]:
        """``(partition key, unix time)`` of every materialization of ``asset``."""
        records = self.instance.fetch_materializations(AssetKey(asset), limit=10_000).records
        return [(r.partition_key or "", r.timestamp) for r in records]


def engine_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    """The messages of a run's engine events (launched, handed to a worker, resumed), oldest first."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    return [r.event_log_entry.dagster_event.message or "" for r in records if r.event_log_entry.dagster_event]


def instance_settled(instance: DagsterInstance) -> bool:
    """No run queued, starting or in progress."""
    busy = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    return not instance.get_runs(RunsFilter(statuses=busy), limit=1)


def instance_idle(instance: DagsterInstance) -> bool:
    """No run queued, starting or in progress, and none to come: every record run that posted has its products run
    (``ligo_products_sensor``, run key ``<record run id>:products``)."""
    if not instance_settled(instance):
        return False
    runs = instance.get_runs()
    try:
        from ..sensors.products import record_posted
    except ImportError:  # a product from before the record/products split (a benchmark's --baseline)
        return True
    run_keys = {run.tags.get("dagster/run_key") for run in runs}
    return all(
        f"{run.run_id}:products" in run_keys
        for run in runs
        if run.job_name == "ligo_record_job" and record_posted(instance, run)
    )
