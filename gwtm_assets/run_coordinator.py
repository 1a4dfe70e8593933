"""Moved to ``gwtm_assets.runtime.run_coordinator``; this path stays so a ``dagster.yaml`` written for it still loads."""

from .runtime.run_coordinator import EventTaggingRunCoordinator, event_tags_for

__all__ = ["EventTaggingRunCoordinator", "event_tags_for"]
