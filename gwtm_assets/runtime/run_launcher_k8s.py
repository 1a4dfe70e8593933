"""``K8sWarmRunLauncher``: the warm run workers on Kubernetes, run pods for the rest.

The same mechanism as ``WarmRunLauncher`` (``gwtm_assets/run_launcher.py``):
each run goes to the run-worker pool (the ``gwtm-run-workers`` Deployment and
Service of ``deploy/helm``, our image running ``gwtm-cron run-workers``), so an
alert does not wait for a pod to be scheduled, pulled and started; backfills
and every run while the pool cannot be reached get a Kubernetes Job from
``K8sRunLauncher`` as before, with its health check. Configured as the Helm
values' ``CustomRunLauncher``: K8sRunLauncher's options plus ``address`` and
``cold_run_tags``. Needs ``dagster-k8s`` (the image's ``deploy`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher

from .run_launcher import WARM_CONFIG, WarmWorkers


class K8sWarmRunLauncher(WarmWorkers, K8sRunLauncher):
    """Warm workers from the run-worker pool; a Kubernetes Job per run for backfills and while the pool is down."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        address: str | None = None,
        cold_run_tags: Sequence[str] | None = None,
        **k8s_config: Any,
    ) -> None:
        super().__init__(inst_data=inst_data, **k8s_config)
        self._configure_warm_workers(address, cold_run_tags)

    @classmethod
    def config_type(cls) -> dict:
        return {**K8sRunLauncher.config_type(), **WARM_CONFIG}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> K8sWarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)
