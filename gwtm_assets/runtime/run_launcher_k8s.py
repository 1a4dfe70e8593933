"""``K8sWarmRunLauncher``: the warm run workers on Kubernetes, run pods for the rest.

The same mechanism as ``WarmRunLauncher`` (``gwtm_assets/run_launcher.py``):
each run goes to the run-worker pool (the ``gwtm-run-workers`` Deployment and
Service of ``deploy/helm``, our image running ``gwtm-cron run-workers``), so an
alert does not wait for a pod to be scheduled, pulled and started; backfills
and every run while the pool cannot be reached get a Kubernetes Job from
``K8sRunLauncher`` as before, with its health check. Configured as the Helm
values' ``CustomRunLauncher``: K8sRunLauncher's options plus ``address`` and
``cold_run_tags``. Needs ``dagster-k8s`` (the image's ``deploy`` extra).

With ``max_resume_run_attempts`` above 0 Dagster builds the run launcher in
every process that opens the instance, also the pods that never talk to the
cluster and so get no service-account token (the pool and its workers, the
code server, the metrics exporter). ``K8sRunLauncher`` loads the in-cluster
credentials when it is built; here, in a process without them, it is built
without, and only a Job it would launch fails, naming why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import dagster_k8s.launcher
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher
from kubernetes.config.incluster_config import SERVICE_TOKEN_FILENAME

from .run_launcher import WARM_CONFIG, WarmWorkers


class NoClusterCredentials(RuntimeError):
    """This process was given no service-account token, so it cannot create a Job."""


@contextmanager
def _without_cluster_credentials() -> Iterator[None]:
    """Build a ``K8sRunLauncher`` without loading the in-cluster configuration it would fail to find."""
    load = dagster_k8s.launcher.load_kubernetes_config
    dagster_k8s.launcher.load_kubernetes_config = lambda **_: None
    try:
        yield
    finally:
        dagster_k8s.launcher.load_kubernetes_config = load


class K8sWarmRunLauncher(WarmWorkers, K8sRunLauncher):
    """Warm workers from the run-worker pool; a Kubernetes Job per run for backfills and while the pool is down."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        address: str | None = None,
        cold_run_tags: Sequence[str] | None = None,
        **k8s_config: Any,
    ) -> None:
        self.credentials_missing = k8s_config.get("load_incluster_config", True) and not os.path.exists(
            SERVICE_TOKEN_FILENAME
        )
        with _without_cluster_credentials() if self.credentials_missing else nullcontext():
            super().__init__(inst_data=inst_data, **k8s_config)
        self._configure_warm_workers(address, cold_run_tags)

    def _launch_k8s_job_with_args(self, job_name: str, args: Sequence[str] | None, run: DagsterRun) -> None:
        if self.credentials_missing:
            raise NoClusterCredentials(
                f"cannot create Job {job_name} for run {run.run_id}: this pod has no service-account token "
                f"({SERVICE_TOKEN_FILENAME}); runs are launched by the daemon"
            )
        super()._launch_k8s_job_with_args(job_name, args, run)

    @classmethod
    def config_type(cls) -> dict:
        return {**K8sRunLauncher.config_type(), **WARM_CONFIG}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> K8sWarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)
