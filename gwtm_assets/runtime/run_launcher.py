"""Run launchers: warm run workers first (``WarmRunLauncher``), and a health check for cold ones.

``WarmRunLauncher`` hands each run to the warm run-worker pool
(``gwtm_assets/run_workers.py``), which forks a worker that already has Dagster
and the code location imported: an alert's run starts in tens of
milliseconds instead of ~2 s. Runs tagged with one of ``cold_run_tags``
(backfills, by default) and every run while the pool cannot be reached are
launched as before by the launcher it extends: ``LocalRunLauncher`` here,
``K8sRunLauncher`` on Kubernetes (``gwtm_assets/run_launcher_k8s.py``), so no
run is ever lost to a missing pool. Warm runs keep Dagster's run monitoring:
their health is asked of the pool (is the worker pid alive?), and a run whose
worker died is resumed in place (``max_resume_run_attempts``): a new worker,
warm when the pool answers, runs the steps not yet done. The run keeps its
place in its event's lane, so an event's later notices never post before it;
a fresh run (Dagster's run retries) would queue behind them. Only when the
resumes are spent is the run failed and retried.

``LocalRunLauncher``, the cold path on one host: Dagster's
``DefaultRunLauncher`` starts each run in a process spawned by the code server
but cannot report whether that process is still alive. If the
daemon and code server are killed (OOM, node restart, ``kill -9``), their runs
stay ``STARTED`` forever, and with the one-run-per-event queue limit the
event's later notices wait behind them. This launcher answers Dagster's run
monitoring: a run whose worker process is gone is resumed in a new process
(``dagster api resume_run``), then, when the resumes are spent, failed and
launched again by the instance's run retries (the assets are idempotent).

The worker's pid comes from the run's own "Started process for run" engine
event. The check needs the daemon to see the code server's processes: the same
host, or a shared PID namespace (``pid: service:...`` in docker compose).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DefaultRunLauncher, Field, Noneable, StringSource
from dagster._core.events import EngineEventData
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, ResumeRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import ResumeRunArgs
from dagster._serdes import ConfigurableClassData, serialize_value

from ..run_tags import COLD_RUN_TAGS, WORKER_PID_TAG, WORKER_STARTED_TAG, WORKER_TAG
from ..settings import GWTMSettings
from .run_workers import PoolUnavailable, RunWorkerPoolClient, default_address, process_alive


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a worker health check by pid (see the module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def run_worker_pid(self, run: DagsterRun) -> int | None:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False
        ).records
        for record in records:
            event = record.event_log_entry.dagster_event
            data = event.event_specific_data if event else None
            metadata = data.metadata if isinstance(data, EngineEventData) else {}
            if "pid" in (metadata or {}):
                return int(str(metadata["pid"].value))
        return None

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self.run_worker_pid(run)
        if pid is None:
            # Not reported yet: the run is still starting; start_timeout_seconds covers a worker that never starts.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid reported yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive", run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker pid {pid} is gone (daemon or code server killed?)", run_worker_id=str(pid)
        )

    @property
    def supports_resume_run(self) -> bool:
        return True

    def resume_run(self, context: ResumeRunContext) -> None:
        """``dagster api resume_run`` in a new process of this host; its pid is reported at once, so the next health
        check asks after the new worker, not the dead one."""
        run = context.dagster_run
        if run.job_code_origin is None:
            raise ValueError(f"run {run.run_id} has no code origin to resume it from")
        args = ResumeRunArgs(run.job_code_origin, run.run_id, self._instance.get_ref(), set_exit_code_on_failure=True)
        # The code location's interpreter, as its server starts runs (the origin's entry point relies on PATH).
        python = run.job_code_origin.executable_path or sys.executable
        worker = subprocess.Popen([python, "-m", "dagster", "api", "resume_run", serialize_value(args)])
        self._instance.report_engine_event(
            f"Resuming the run in a new process, pid {worker.pid} (attempt {context.resume_attempt_number})",
            run,
            EngineEventData({"pid": str(worker.pid)}),
            cls=self.__class__,
        )


WARM_CONFIG = {
    "address": Field(
        Noneable(StringSource),
        is_required=False,
        default_value=None,
        description="The run-worker pool: unix:/path, unix:@abstract-name or host:port (default: "
        "RUN_WORKERS_ADDRESS, else an abstract socket named after DAGSTER_HOME).",
    ),
    "cold_run_tags": Field(
        [str],
        is_required=False,
        default_value=list(COLD_RUN_TAGS),
        description="Runs with any of these tag keys are launched by the base launcher (heavy work).",
    ),
}


class WarmWorkers:
    """Mixin over a run launcher: warm workers from the pool first, the base launcher (``super()``) otherwise."""

    _instance: DagsterInstance  # the base launcher's

    def _configure_warm_workers(self, address: str | None, cold_run_tags: Sequence[str] | None) -> None:
        self._pool_address = address
        self.cold_run_tags = tuple(COLD_RUN_TAGS if cold_run_tags is None else cold_run_tags)

    @property
    def pool(self) -> RunWorkerPoolClient:
        """The pool at ``address``, else the one named after this instance's home (any process, any cwd)."""
        return RunWorkerPoolClient(
            self._pool_address or default_address(self._instance.root_directory),
            token=GWTMSettings().run_workers_token,
        )

    def _hand_to_pool(self, run: DagsterRun, resume: bool = False) -> bool:
        """Whether a warm worker took ``run`` (to resume it, with ``resume``); if not, an engine event says why."""
        pool = self.pool
        doing = "resuming" if resume else "launching"
        try:
            pid, started = pool.launch(run.run_id, serialize_value(self._instance.get_ref()), resume=resume)
        except PoolUnavailable as exc:
            self._instance.report_engine_event(
                f"Warm run workers unavailable ({exc}); {doing} the run in a new process instead",
                run,
                cls=self.__class__,
            )
            return False
        tags = {WORKER_TAG: "warm", WORKER_PID_TAG: str(pid)}
        if started is not None:
            tags[WORKER_STARTED_TAG] = str(started)
        self._instance.add_run_tags(run.run_id, tags)
        self._instance.report_engine_event(
            f"Run {'resumed in' if resume else 'handed to'} warm worker pid {pid} ({pool.address})",
            run,
            EngineEventData({"pid": str(pid), "pool": pool.address}),
            cls=self.__class__,
        )
        return True

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if any(tag in run.tags for tag in self.cold_run_tags) or not self._hand_to_pool(run):
            super().launch_run(context)  # type: ignore[misc]

    @property
    def supports_resume_run(self) -> bool:
        return True

    def resume_run(self, context: ResumeRunContext) -> None:
        """A warm run resumes in a new warm worker; a cold run, and a warm one while the pool is down, as the base
        launcher resumes (a new process here, a Job on Kubernetes), its health checked as the base checks it."""
        run = context.dagster_run
        if run.tags.get(WORKER_TAG) == "warm":
            if self._hand_to_pool(run, resume=True):
                return
            self._instance.add_run_tags(run.run_id, {WORKER_TAG: "cold"})
        super().resume_run(context)  # type: ignore[misc]

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if run.tags.get(WORKER_TAG) != "warm":
            return super().check_run_worker_health(run)  # type: ignore[misc]
        pid = int(run.tags[WORKER_PID_TAG])
        started = run.tags.get(WORKER_STARTED_TAG)
        try:
            alive = self.pool.alive(pid, None if started is None else int(started))
        except PoolUnavailable as exc:
            # The pool's workers share its process (container, pod): with it gone, they are gone.
            return CheckRunHealthResult(WorkerStatus.FAILED, f"warm worker pid {pid}: {exc}", run_worker_id=str(pid))
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"warm worker pid {pid} is alive", run_worker_id=str(pid))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"warm worker pid {pid} is gone", run_worker_id=str(pid))

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished or run.tags.get(WORKER_TAG) != "warm":
            return super().terminate(run_id)  # type: ignore[misc]
        self._instance.report_run_canceling(run)
        try:
            return self.pool.interrupt(int(run.tags[WORKER_PID_TAG]))
        except PoolUnavailable as exc:
            self._instance.report_engine_event(f"Could not interrupt the run: {exc}", run, cls=self.__class__)
            return False


class WarmRunLauncher(WarmWorkers, LocalRunLauncher):
    """Warm workers from the run-worker pool; ``LocalRunLauncher`` for backfills and while the pool is down."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        address: str | None = None,
        cold_run_tags: Sequence[str] | None = None,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._configure_warm_workers(address, cold_run_tags)

    @classmethod
    def config_type(cls) -> dict:
        return dict(WARM_CONFIG)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)
