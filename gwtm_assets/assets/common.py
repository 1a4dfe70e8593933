"""What the assets of a ``gw_alerts`` partition share: the values passed between them, their decorators, the
retry policy and the partition check."""

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    Backoff,
    DagsterError,
    DagsterExecutionInterruptedError,
    DagsterRunStatus,
    RetryPolicy,
    asset,
    multi_asset,
)

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


class RunTerminated(DagsterError, DagsterExecutionInterruptedError):
    """An operator's terminate that reached a step with a retry policy.

    Dagster turns an interrupt inside such a step into a retry (``op_execution_error_boundary``): a run terminated
    while its record was posted would post again and end SUCCESS. As a ``DagsterError`` this passes that boundary
    unchanged; as an interrupt it ends the run CANCELED, as it would end a step without a policy.
    """


def _terminated(interrupt: DagsterExecutionInterruptedError) -> RunTerminated | None:
    """The error to end the step with when ``interrupt`` is the operator's terminate (the run is CANCELING), else
    None: a SIGTERM nobody asked for (a pod stopped) is still retried, as the policy says."""
    context = AssetExecutionContext.get()
    run = context.instance.get_run_by_id(context.run.run_id)
    if run is None or run.status not in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED):
        return None
    return RunTerminated(f"run {run.run_id} was terminated during {context.op_def.name} ({interrupt!r})")


def _ending_when_terminated(compute_fn: Callable) -> Callable:
    """``compute_fn`` ending, not retried, when an operator terminates its run (``RunTerminated``)."""
    if inspect.isgeneratorfunction(compute_fn):

        @functools.wraps(compute_fn)
        def compute(*args: Any, **kwargs: Any) -> Any:
            try:
                return (yield from compute_fn(*args, **kwargs))
            except DagsterExecutionInterruptedError as interrupt:
                raise (_terminated(interrupt) or interrupt) from interrupt

    else:

        @functools.wraps(compute_fn)
        def compute(*args: Any, **kwargs: Any) -> Any:
            try:
                return compute_fn(*args, **kwargs)
            except DagsterExecutionInterruptedError as interrupt:
                raise (_terminated(interrupt) or interrupt) from interrupt

    return compute


def retried_asset(**asset_args: Any) -> Callable:
    """``@asset`` retrying transient failures (``TRANSIENT_RETRY``), and ending, not retrying, when terminated."""

    def decorate(compute_fn: Callable) -> Any:
        return asset(retry_policy=TRANSIENT_RETRY, **asset_args)(_ending_when_terminated(compute_fn))

    return decorate


def products_multi_asset(products: dict[str, tuple[str, Callable]], checks: list[AssetCheckSpec]) -> Callable:
    """Stored products of a ``gw_alerts`` partition (``{asset: (kind, the function making it, whose docstring
    describes it)}``), written by the product IO manager, each with its science check, made by one step that makes
    only those selected (``can_subset``).

    They run right after the record (``dagster/priority`` 1: the in-process executor runs the ready step of highest
    priority first), retried on transient failures and ended, not retried, when terminated, as ``retried_asset``.
    """

    def decorate(compute_fn: Callable) -> Any:
        return multi_asset(
            outs={
                name: AssetOut(
                    io_manager_key="product_io_manager", kinds={kind}, description=make.__doc__, is_required=False
                )
                for name, (kind, make) in products.items()
            },
            partitions_def=gw_alert_partitions,
            group_name=LIGO_GROUP,
            check_specs=checks,
            can_subset=True,
            retry_policy=TRANSIENT_RETRY,
            op_tags={"dagster/priority": "1"},
        )(_ending_when_terminated(compute_fn))

    return decorate


def after_record_asset(kind: str, io_manager_key: str = "product_io_manager") -> Callable:
    """An asset of a ``gw_alerts`` partition that must never delay the record: it runs after the record and the
    products (``dagster/priority`` -1), retried on transient failures."""
    return retried_asset(
        partitions_def=gw_alert_partitions,
        group_name=LIGO_GROUP,
        io_manager_key=io_manager_key,
        kinds={kind},
        op_tags={"dagster/priority": "-1"},
    )


def check_partition(notice: Any, context: AssetExecutionContext) -> None:
    """A notice landed under another partition's key is an error, not a silent mix-up (a partition made before
    LIGO keys were derived from the content keeps its old key: ``LigoNotice.is_partition``)."""
    if not notice.is_partition(context.partition_key):
        raise ValueError(f"notice is {notice.partition_key}, not the partition's {context.partition_key}")
