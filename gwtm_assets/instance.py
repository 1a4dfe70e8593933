"""Moved to ``gwtm_assets.runtime.instance``; this path stays so a ``dagster.yaml`` written for it still loads."""

from .runtime.instance import EventTaggingInstance, EventTaggingRunDomain

__all__ = ["EventTaggingInstance", "EventTaggingRunDomain"]
