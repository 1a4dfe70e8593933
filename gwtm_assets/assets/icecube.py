"""Assets of one IceCube LVK Nu Track Search notice (partitioned by ``icecube_notices``)."""

from typing import Any

from dagster import AssetExecutionContext, AssetSpec, MetadataValue, Output, asset

from ..notices.icecube import IceCubeNotice, parse_icecube_notice
from ..notices.icecube import icecube_record as build_icecube_record
from ..notices.validation import NoticeValidationError, final_failure
from ..partitions import icecube_notice_partitions
from ..resources.gwtm_api import GWTMApiResource
from .common import check_partition, retried_asset

GROUP = "icecube"

#: Landed by the sensors (an external asset: Dagster records it, never computes it); read through its IO manager.
incoming_icecube_notice = AssetSpec(
    key="incoming_icecube_notice",
    partitions_def=icecube_notice_partitions,
    group_name=GROUP,
    description="Raw IceCube notice bytes as received, landed in storage before the run.",
).with_io_manager_key("incoming_notice_io_manager")


@asset(
    partitions_def=icecube_notice_partitions, group_name=GROUP, io_manager_key="intermediate_io_manager", kinds={"json"}
)
def icecube_notice(context: AssetExecutionContext, incoming_icecube_notice: bytes) -> Output[IceCubeNotice]:
    """The IceCube notice, validated against GCN's schema (both event layouts)."""
    try:
        notice = parse_icecube_notice(incoming_icecube_notice)
    except NoticeValidationError as exc:
        raise final_failure(exc) from exc
    check_partition(notice, context)
    return Output(
        notice,
        metadata={
            "graceid": notice.graceid,
            "ref_id": notice.ref_id,
            "events": len(notice.content.get("coincident_events") or []),
        },
    )


@retried_asset(
    partitions_def=icecube_notice_partitions,
    group_name=GROUP,
    io_manager_key="intermediate_io_manager",
    kinds={"api"},
)
def icecube_record(icecube_notice: IceCubeNotice, gwtm_api: GWTMApiResource) -> Output[dict[str, Any]]:
    """The notice posted to the GWTM API as ``notice_data``/``events_data`` (idempotent on ``ref_id``)."""
    body = build_icecube_record(icecube_notice)
    answer = gwtm_api.post_icecube_notice(body)
    held = answer.get("icecube_notice")
    already = isinstance(held, dict) and held.get("message") == "event already exists"
    return Output(
        body,
        metadata={
            "ref_id": body["notice_data"]["ref_id"],
            "events": len(body["events_data"]),
            "posted": gwtm_api.posts_enabled,
            "already_held": already,
            "answer": MetadataValue.json(answer),
        },
    )
