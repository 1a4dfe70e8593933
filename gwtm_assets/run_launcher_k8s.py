"""Moved to ``gwtm_assets.runtime.run_launcher_k8s``; this path stays so a ``dagster.yaml`` written for it still loads."""

from .runtime.run_launcher_k8s import K8sWarmRunLauncher

__all__ = ["K8sWarmRunLauncher"]
