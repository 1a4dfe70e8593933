"""A run launcher for single-host instances that can tell when a run's process has died.

Dagster's ``DefaultRunLauncher`` starts each run in a process spawned by the
code server but cannot report whether that process is still alive. If the
daemon and code server are killed (OOM, node restart, ``kill -9``), their runs
stay ``STARTED`` forever, and with the one-run-per-event queue limit the
event's later notices wait behind them. This launcher answers Dagster's run
monitoring: a run whose worker process is gone is marked failed, and the
instance's run retries launch it again (the assets are idempotent).

The worker's pid comes from the run's own "Started process for run" engine
event. The check needs the daemon to see the code server's processes: the same
host, or a shared PID namespace (``pid: service:...`` in docker compose). On
Kubernetes use ``K8sRunLauncher``, which has its own health check.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process on this host."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


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
            metadata = event.event_specific_data.metadata if event and event.event_specific_data else {}
            if "pid" in (metadata or {}):
                return int(metadata["pid"].value)
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
