"""Jobs over the notice partitions.

Every run of a partition, whoever asks for it (a sensor, a backfill, the UI),
is tagged ``gwtm/event=<graceid>``: the instance's run queue runs one run per
event at a time, in arrival order, so product numbering never races. Runs
execute in one process: a notice's assets are small and sequential, and a
process per step would re-import the science stack for each (seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    DynamicPartitionsDefinition,
    PartitionedConfig,
    define_asset_job,
    in_process_executor,
)

from .partitions import gw_alert_partitions, icecube_notice_partitions
from .run_tags import EVENT_TAG

if TYPE_CHECKING:  # what define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def event_of(partition_key: str) -> str:
    """The event (superevent or IceCube reference) a ``<id>-<Type>-<digest>`` partition key belongs to."""
    return partition_key.rsplit("-", 2)[0]


def event_tags(partition_key: str) -> dict[str, str]:
    return {EVENT_TAG: event_of(partition_key)}


def notice_job(
    name: str, group: str, partitions_def: DynamicPartitionsDefinition, description: str
) -> UnresolvedAssetJobDefinition:
    """The job of one asset group over its notice partitions: in-process, every run tagged with its event."""
    return define_asset_job(
        name,
        selection=AssetSelection.groups(group),
        config=PartitionedConfig(
            partitions_def=partitions_def,
            run_config_for_partition_key_fn=lambda _key: {},
            tags_for_partition_key_fn=event_tags,
        ),
        executor_def=in_process_executor,
        description=description,
    )


ligo_alert_job = notice_job(
    "ligo_alert_job", "ligo", gw_alert_partitions, "All products of one igwn.gwalert notice (one gw_alerts partition)."
)
icecube_notice_job = notice_job(
    "icecube_notice_job",
    "icecube",
    icecube_notice_partitions,
    "The GWTM record of one IceCube notice (one icecube_notices partition).",
)
