"""The Dagster instance class that gives every run of a notice partition its event tag, at creation.

``EventTaggingRunCoordinator`` tags runs that pass through the run queue (the
UI's Materialize dialog, backfills, sensors). ``dagster asset materialize`` and
``dagster job execute`` run in-process and never meet the queue; every run,
however started, is created by the instance, so tagging there covers them too.
Configured as ``instance_class`` in ``dagster.yaml`` and the production
instance; the Helm chart writes its own instance, where the coordinator does
the tagging (CLI runs in a Kubernetes pod stay untagged: see README).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.runs.run_domain import RunDomain
from dagster._core.storage.dagster_run import DagsterRun

from .run_coordinator import event_tags_for


class EventTaggingRunDomain(RunDomain):
    def create_run(self, *, tags: Mapping[str, Any] | None, **kwargs: Any) -> DagsterRun:
        tags = dict(tags or {})
        return super().create_run(tags={**tags, **event_tags_for(tags)}, **kwargs)


class EventTaggingInstance(DagsterInstance):
    """``DagsterInstance`` whose runs of a notice partition always carry ``gwtm/event``."""

    @cached_property
    def run_domain(self) -> RunDomain:
        return EventTaggingRunDomain(self)

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str):
        return InstanceRef.config_defaults(base_dir)
