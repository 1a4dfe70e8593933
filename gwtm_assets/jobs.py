"""Jobs over the notice partitions.

Every run of a partition, whoever asks for it (a sensor, a backfill, the UI),
is tagged ``gwtm/event=<graceid>``: the instance's run queue runs one run per
event at a time, in arrival order, so product numbering never races. Runs
execute in one process: a notice's assets are small and sequential, and a
process per step would re-import the science stack for each (seconds).
"""

from dagster import AssetSelection, PartitionedConfig, define_asset_job, in_process_executor

from .partitions import gw_alert_partitions, icecube_notice_partitions

EVENT_TAG = "gwtm/event"


def event_of(partition_key: str) -> str:
    """The event (superevent or IceCube reference) a ``<id>-<Type>-<digest>`` partition key belongs to."""
    return partition_key.rsplit("-", 2)[0]


def event_tags(partition_key: str) -> dict[str, str]:
    return {EVENT_TAG: event_of(partition_key)}


def _partitioned_config(partitions_def) -> PartitionedConfig:
    return PartitionedConfig(
        partitions_def=partitions_def,
        run_config_for_partition_key_fn=lambda _key: {},
        tags_for_partition_key_fn=event_tags,
    )


ligo_alert_job = define_asset_job(
    "ligo_alert_job",
    selection=AssetSelection.groups("ligo"),
    partitions_def=gw_alert_partitions,
    config=_partitioned_config(gw_alert_partitions),
    executor_def=in_process_executor,
    description="All products of one igwn.gwalert notice (one gw_alerts partition).",
)
icecube_notice_job = define_asset_job(
    "icecube_notice_job",
    selection=AssetSelection.groups("icecube"),
    partitions_def=icecube_notice_partitions,
    config=_partitioned_config(icecube_notice_partitions),
    executor_def=in_process_executor,
    description="The GWTM record of one IceCube notice (one icecube_notices partition).",
)
