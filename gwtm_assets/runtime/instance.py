"""The Dagster instance class: every run of a notice partition gets its event tag at creation, and a notice's
partition, once seen, is not looked up again on every step.

``EventTaggingRunCoordinator`` tags runs that pass through the run queue (the
UI's Materialize dialog, backfills, sensors). ``dagster asset materialize`` and
``dagster job execute`` run in-process and never meet the queue; every run,
however started, is created by the instance, so tagging there covers them too.
Configured as ``instance_class`` in ``dagster.yaml`` and the production
instance; the Helm chart writes its own instance, where the coordinator does
the tagging (CLI runs in a Kubernetes pod stay untagged: see README).

Dagster asks the event storage whether the run's dynamic partition exists
~170 times in one notice's run (every input's partition subset, every output,
every check), one query each: ~0.17 s of a warm worker's ~1 s per notice on
SQLite, and a new connection each on PostgreSQL (NullPool). A partition that
exists is remembered for ``KNOWN_PARTITION_TTL_S``; a missing one is always
asked again. Partitions are only ever added here; one deleted in the UI may be
taken as existing by a long-lived process (the daemon) for that long at most.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import yaml
from dagster import DagsterInstance
from dagster._core.instance import InstanceType
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.runs.run_domain import RunDomain
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.sqlite_storage import _event_logs_directory
from dagster._serdes import ConfigurableClassData

from .memory_storage import HeldConnectionEventLogStorage, HeldConnectionRunStorage
from .run_coordinator import event_tags_for


class EventTaggingRunDomain(RunDomain):
    def create_run(self, *, tags: Mapping[str, Any] | None, **kwargs: Any) -> DagsterRun:
        tags = dict(tags or {})
        return super().create_run(tags={**tags, **event_tags_for(tags)}, **kwargs)


KNOWN_PARTITION_TTL_S = 30.0
KNOWN_PARTITIONS_MAX = 4096


class KnownPartitions:
    """Dynamic partitions seen to exist, each for ``ttl_s`` seconds; at most ``max_size`` remembered."""

    def __init__(self, ttl_s: float = KNOWN_PARTITION_TTL_S, max_size: int = KNOWN_PARTITIONS_MAX) -> None:
        self.ttl_s, self.max_size = ttl_s, max_size
        self._seen_at: dict[tuple[str, str], float] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        seen_at = self._seen_at.get(key)
        return seen_at is not None and time.monotonic() - seen_at < self.ttl_s

    def add(self, key: tuple[str, str]) -> None:
        if len(self._seen_at) >= self.max_size:
            self._seen_at.clear()
        self._seen_at[key] = time.monotonic()

    def discard(self, key: tuple[str, str]) -> None:
        self._seen_at.pop(key, None)


class EventTaggingInstance(DagsterInstance):
    """``DagsterInstance`` whose runs of a notice partition always carry ``gwtm/event``, and which remembers the
    dynamic partitions it has seen exist (module docstring)."""

    @cached_property
    def run_domain(self) -> RunDomain:
        return EventTaggingRunDomain(self)

    @cached_property
    def known_partitions(self) -> KnownPartitions:
        return KnownPartitions()

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        key = (partitions_def_name, partition_key)
        if key in self.known_partitions:
            return True
        exists = super().has_dynamic_partition(partitions_def_name, partition_key)
        if exists:
            self.known_partitions.add(key)
        return exists

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self.known_partitions.discard((partitions_def_name, partition_key))
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    @classmethod
    def ephemeral_instance(cls) -> EventTaggingInstance:
        """What ``DagsterInstance.ephemeral()`` makes (in-memory storage, on held connections: ``memory_storage``), as
        this class."""
        return cls(
            instance_type=InstanceType.EPHEMERAL,
            local_artifact_storage=TemporaryLocalArtifactStorage(),
            run_storage=HeldConnectionRunStorage(),
            event_storage=HeldConnectionEventLogStorage(),
            compute_log_manager=NoOpComputeLogManager(),
            run_coordinator=DefaultRunCoordinator(),
            run_launcher=SyncInMemoryRunLauncher(),
        )

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str):
        """Dagster's defaults, with run event databases copied from a template (``runtime/sqlite_storage.py``)."""
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = ConfigurableClassData(
            "gwtm_assets.runtime.sqlite_storage", "ShardTemplateSqliteStorage", yaml.dump({"base_dir": base_dir})
        )
        defaults["event_log_storage"] = ConfigurableClassData(
            "gwtm_assets.runtime.sqlite_storage",
            "ShardTemplateEventLogStorage",
            yaml.dump({"base_dir": _event_logs_directory(base_dir)}),
        )
        return defaults
