"""The run queue that gives every run of a notice partition its event tag, however the run was started.

The sensors' jobs tag their runs (``gwtm/event``) themselves; a run started from
the UI's Materialize dialog or a backfill uses the assets' implicit job and
arrives untagged, so the one-run-per-event limit would not hold it back and two
notices of an event could race for a product name. Every queued run passes
through ``submit_run``: a run with a ``dagster/partition`` tag gets the event
tag there, before it is queued and before the limits are applied at dequeue.
Configured in ``dagster.yaml`` (and, as a ``CustomRunCoordinator``, in the Helm
values).
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DagsterRun
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

from .jobs import EVENT_TAG, PARTITION_TAG, event_of


def event_tags_for(tags: Mapping[str, str]) -> dict[str, str]:
    """``{gwtm/event: <id>}`` for the tags of a notice-partition run that lacks it, else nothing."""
    key = tags.get(PARTITION_TAG)
    if not key or EVENT_TAG in tags or key.count("-") < 2:
        return {}
    return {EVENT_TAG: event_of(key)}


class EventTaggingRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` that adds ``gwtm/event`` to notice-partition runs before queueing them."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        tags = event_tags_for(context.dagster_run.tags)
        if tags:
            self._instance.add_run_tags(context.dagster_run.run_id, tags)
            run = self._instance.get_run_by_id(context.dagster_run.run_id)
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
