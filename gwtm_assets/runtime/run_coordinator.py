"""The run queue that gives every run of a notice partition its event tag, however the run was started.

The sensors' jobs tag their runs (``gwtm/event``, ``gwtm/queue``) themselves; a
run started from the UI's Materialize dialog or a backfill uses the assets'
implicit job and arrives untagged, so the one-run-per-lane limit would not hold
it back and two notices of an event could race for a product name. Every queued
run passes through ``submit_run``: a run with a ``dagster/partition`` tag gets
the missing tags there, before it is queued and before the limits are applied at
dequeue. A run without ``gwtm/stage=products`` may post records, so its lane is
the event's own.
Configured in ``dagster.yaml`` (and, as a ``CustomRunCoordinator``, in the Helm
values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from dagster import DagsterRun, Field
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._serdes import ConfigurableClassData

from ..jobs import event_of
from ..run_tags import EVENT_TAG, PARTITION_TAG, PRODUCTS_STAGE, QUEUE_TAG, STAGE_TAG


def event_tags_for(tags: Mapping[str, str]) -> dict[str, str]:
    """``gwtm/event`` and ``gwtm/queue``, those of them a notice-partition run's tags lack; else nothing."""
    key = tags.get(PARTITION_TAG)
    if not key or key.count("-") < 2:
        return {}
    event = event_of(key)
    lane = f"{event}/{PRODUCTS_STAGE}" if tags.get(STAGE_TAG) == PRODUCTS_STAGE else event
    return {tag: value for tag, value in ((EVENT_TAG, event), (QUEUE_TAG, lane)) if tag not in tags}


class EventTaggingRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` that adds ``gwtm/event`` and ``gwtm/queue`` to notice-partition runs before queueing them.

    Its ``dequeue_interval_seconds`` may be a fraction: Dagster's is an integer,
    so a run waited 0.5-1.5 s in the queue (the daemon's loop sleeps in 0.5 s
    steps after each pass); 0.5 makes it 0-0.5 s, for a pass of a few database
    queries every half second.
    """

    @classmethod
    def config_type(cls) -> dict:
        schema = dict(cast(Mapping[str, Any], super().config_type()))
        schema["dequeue_interval_seconds"] = Field(
            float,
            is_required=False,
            description="Seconds between passes over the run queue; fractions allowed (0.5: the daemon's shortest).",
        )
        return schema

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> EventTaggingRunCoordinator:
        interval = config_value.get("dequeue_interval_seconds")
        coordinator = super().from_config_value(inst_data, {**config_value, "dequeue_interval_seconds": None})
        if interval is not None:
            coordinator._dequeue_interval_seconds = float(interval)  # type: ignore[assignment]  # the daemon takes any number
        return coordinator

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        tags = event_tags_for(context.dagster_run.tags)
        if tags:
            self._instance.add_run_tags(context.dagster_run.run_id, tags)
            run = self._instance.get_run_by_id(context.dagster_run.run_id)
            assert run is not None  # it was just tagged
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
