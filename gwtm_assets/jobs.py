"""Jobs over the notice partitions.

Every run of a partition, whoever asks for it (a sensor, a backfill, the UI),
is tagged ``gwtm/event=<graceid>`` and queued in a lane (``gwtm/queue``): the
instance's run queue runs one run per lane at a time, in arrival order. A run
that may post records is in the event's lane, so the numbering never races; a
LIGO notice from the stream runs as two runs, its record (``ligo_record_job``)
and then its products (``ligo_products_job``, in the ``<event>/products`` lane,
requested by ``sensors/products.py``), so an event's next record never waits
for the products of the notice before. Runs execute in one process: a notice's
assets are small and sequential, and a process per step would re-import the
science stack for each (seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    DynamicPartitionsDefinition,
    PartitionedConfig,
    define_asset_job,
    in_process_executor,
)

from .partitions import gw_alert_partitions, icecube_notice_partitions
from .run_tags import EVENT_TAG, PRIORITY_TAG, PRODUCTS_STAGE, QUEUE_TAG, STAGE_TAG

if TYPE_CHECKING:  # what define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def event_of(partition_key: str) -> str:
    """The event (superevent or IceCube reference) a ``<id>-<Type>-<digest>`` partition key belongs to."""
    return partition_key.rsplit("-", 2)[0]


def event_tags(partition_key: str) -> dict[str, str]:
    """Tags of a run that may post the records of ``partition_key``: its event, in the event's lane."""
    event = event_of(partition_key)
    return {EVENT_TAG: event, QUEUE_TAG: event}


def products_tags(partition_key: str) -> dict[str, str]:
    """Tags of a run that only makes products of records already posted: the event's products lane, after records."""
    event = event_of(partition_key)
    return {EVENT_TAG: event, QUEUE_TAG: f"{event}/{PRODUCTS_STAGE}", STAGE_TAG: PRODUCTS_STAGE, PRIORITY_TAG: "-1"}


def notice_job(
    name: str,
    selection: AssetSelection,
    partitions_def: DynamicPartitionsDefinition,
    description: str,
    tags_for_partition_key: Callable[[str], dict[str, str]] = event_tags,
) -> UnresolvedAssetJobDefinition:
    """A job over notice partitions: in-process, every run tagged with its event and lane."""
    return define_asset_job(
        name,
        selection=selection,
        config=PartitionedConfig(
            partitions_def=partitions_def,
            run_config_for_partition_key_fn=lambda _key: {},
            tags_for_partition_key_fn=tags_for_partition_key,
        ),
        executor_def=in_process_executor,
        description=description,
    )


#: The assets a LIGO notice's records need; everything else in the group is made from them after the post.
LIGO_RECORD_ASSETS = AssetSelection.assets("raw_alert", "skymap", "api_record")

ligo_alert_job = notice_job(
    "ligo_alert_job",
    AssetSelection.groups("ligo"),
    gw_alert_partitions,
    "All products of one igwn.gwalert notice (one gw_alerts partition) in one run: replays, by hand.",
)
ligo_record_job = notice_job(
    "ligo_record_job",
    LIGO_RECORD_ASSETS,
    gw_alert_partitions,
    "The GWTM records of one igwn.gwalert notice, as soon as it lands (the stream sensor's runs).",
)
ligo_products_job = notice_job(
    "ligo_products_job",
    AssetSelection.groups("ligo") - LIGO_RECORD_ASSETS,
    gw_alert_partitions,
    "The products of one igwn.gwalert notice whose records are posted (requested by ligo_products_sensor).",
    tags_for_partition_key=products_tags,
)
icecube_notice_job = notice_job(
    "icecube_notice_job",
    AssetSelection.groups("icecube"),
    icecube_notice_partitions,
    "The GWTM record of one IceCube notice (one icecube_notices partition).",
)
