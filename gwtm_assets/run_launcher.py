"""Moved to ``gwtm_assets.runtime.run_launcher``; this path stays so a ``dagster.yaml`` written for it still loads."""

from .runtime.run_launcher import LocalRunLauncher, WarmRunLauncher, WarmWorkers

__all__ = ["LocalRunLauncher", "WarmRunLauncher", "WarmWorkers"]
