"""What the assets of a ``gw_alerts`` partition share: the values passed between them, their decorators, the
retry policy and the partition check."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckSpec, AssetExecutionContext, Backoff, RetryPolicy, asset

from ..partitions import gw_alert_partitions
from ..science.skymap import MultiOrderSkyMap, SkymapStatistics

LIGO_GROUP = "ligo"
TRANSIENT_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL)


@dataclass(frozen=True)
class DecodedSkymap:
    """A notice's sky map: the decoded multi-order map, its FITS bytes and statistics."""

    sky: MultiOrderSkyMap
    fits: bytes
    statistics: SkymapStatistics


@dataclass(frozen=True)
class PostedRecord:
    """One alert record as posted: the product name it gives every file, the API id, the record."""

    name: str
    api_id: int | None
    record: dict[str, Any]
    posted_now: bool = False


def elapsed_ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 1)


def product_asset(kind: str, check: AssetCheckSpec, priority: int = 1) -> Callable:
    """A stored product of a ``gw_alerts`` partition, written by the product IO manager, with its science check.

    ``priority`` orders the products after the record (the in-process executor runs the ready step of highest
    ``dagster/priority`` first): the contours, whose check is the dearest (60-200 ms after the product is
    written, ``benchmarks/bench_checks.py``), go last, so the other products do not wait for it.
    """
    return asset(
        partitions_def=gw_alert_partitions,
        group_name=LIGO_GROUP,
        io_manager_key="product_io_manager",
        kinds={kind},
        retry_policy=TRANSIENT_RETRY,
        check_specs=[check],
        op_tags={"dagster/priority": str(priority)},
    )


def after_record_asset(kind: str, io_manager_key: str = "product_io_manager") -> Callable:
    """An asset of a ``gw_alerts`` partition that must never delay the record: it runs after the record and the
    products (``dagster/priority`` -1), retried on transient failures."""
    return asset(
        partitions_def=gw_alert_partitions,
        group_name=LIGO_GROUP,
        io_manager_key=io_manager_key,
        kinds={kind},
        retry_policy=TRANSIENT_RETRY,
        op_tags={"dagster/priority": "-1"},
    )


def check_partition(notice: Any, context: AssetExecutionContext) -> None:
    """A notice landed under another partition's key is an error, not a silent mix-up (a partition made before
    LIGO keys were derived from the content keeps its old key: ``LigoNotice.is_partition``)."""
    if not notice.is_partition(context.partition_key):
        raise ValueError(f"notice is {notice.partition_key}, not the partition's {context.partition_key}")
