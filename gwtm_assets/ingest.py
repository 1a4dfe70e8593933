"""Ingest saved notices: land their bytes, add their partitions, materialize the graph for them."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dagster import DagsterEvent, DagsterInstance, materialize

from .assets import ICECUBE_ASSETS, LIGO_ASSETS
from .io.object_store import ObjectStore, StorageError
from .notices.history import land, notices_oldest_first, parse_notice
from .notices.ligo import LigoNotice
from .notices.validation import NoticeValidationError
from .partitions import gw_alert_partitions, icecube_notice_partitions
from .resources.builders import build_resources
from .resources.storage import opened_store
from .runtime.instance import EventTaggingInstance
from .settings import GWTMSettings

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What happened to one saved notice."""

    path: str
    partition_key: str = ""
    graceid: str = ""
    alert_type: str = ""
    success: bool = False
    error: str = ""
    area_90: float | None = None
    area_50: float | None = None
    distance: float | None = None
    products: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    checks_passed: bool = True
    failed_checks: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Materialized with every science check passed: what exit status 0 means."""
        return self.success and self.checks_passed

    def line(self) -> str:
        if not self.success:
            return f"FAILED {self.path}: {self.error}"
        if not self.checks_passed:
            failed = "; ".join(f"{name} {value}" for name, value in self.failed_checks.items())
            return f"CHECK FAILED {self.graceid} {self.alert_type} {self.names.get('gw', '')}: {failed}"

        def fmt(value: float | None, unit: str) -> str:
            return "-" if value is None else f"{value:.2f} {unit}"

        name = self.names.get("gw", "")
        return (
            f"{self.graceid:<12} {self.alert_type:<12} {name:<26} area_90={fmt(self.area_90, 'deg2'):<14} "
            f"area_50={fmt(self.area_50, 'deg2'):<14} distance={fmt(self.distance, 'Mpc'):<12} "
            f"products={len(self.products):<2} {self.elapsed_ms:7.0f} ms"
        )


def step_failure(event: DagsterEvent, events: Sequence[DagsterEvent]) -> str:
    """``<step>: <the error raised in it>`` (for the API: endpoint, HTTP status and the server's message).

    After its retries ran out, the step's error is the one of its last retry.
    """
    error = event.step_failure_data.error
    if error is None:
        return f"{event.step_key}: failed"
    if error.cls_name == "DagsterMaxRetriesExceededError":
        retried = [e.step_retry_data.error for e in events if e.is_step_up_for_retry and e.step_key == event.step_key]
        error = next((e for e in reversed(retried) if e is not None), error)
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
    return f"{event.step_key}: {message}"


def default_instance() -> DagsterInstance:
    """The instance in ``DAGSTER_HOME`` when set, else an ephemeral one of the class production configures."""
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else EventTaggingInstance.ephemeral_instance()


def ingest_notice(
    raw: bytes,
    path: str,
    instance: DagsterInstance,
    settings: GWTMSettings,
    resources: dict[str, Any],
    store: ObjectStore,
) -> IngestResult:
    """Land (in ``store``), partition and materialize one notice with ``resources`` (from ``build_resources``).

    Never raises for a bad notice.
    """
    started = time.perf_counter()
    result = IngestResult(path=path)
    try:
        kind, notice = parse_notice(raw)
    except NoticeValidationError as exc:
        result.error = str(exc)
        return result
    result.partition_key, result.graceid = notice.partition_key, notice.graceid
    try:
        land(store, notice)
    except StorageError as exc:
        result.error = f"cannot land the notice: {exc}"
        return result
    assets: list[Any]
    if isinstance(notice, LigoNotice):
        result.alert_type = notice.alert_type
        partitions, assets = gw_alert_partitions, list(LIGO_ASSETS)
    else:
        result.alert_type = "IceCube"
        partitions, assets = icecube_notice_partitions, list(ICECUBE_ASSETS)
    instance.add_dynamic_partitions(cast(str, partitions.name), [notice.partition_key])
    run = materialize(
        assets,
        partition_key=notice.partition_key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "DEBUG" if settings.log_level == "DEBUG" else "WARNING"}}}
        },
    )
    result.elapsed_ms = 1000 * (time.perf_counter() - started)
    if not run.success:
        events = run.all_events
        result.error = "; ".join(step_failure(e, events) for e in events if e.is_step_failure) or "run failed"
        return result
    result.success = True
    for evaluation in run.get_asset_check_evaluations():
        if not evaluation.passed:
            result.checks_passed = False
            outside = evaluation.metadata.get("outside_tolerance")
            result.failed_checks[evaluation.check_name] = json.dumps(outside.value if outside else None)
    if kind == "ligo":
        maps = run.output_for_node("skymap")
        if "" in maps:
            s = maps[""].statistics
            result.area_90, result.area_50, result.distance = s.area_90, s.area_50, s.distance
        result.names = {k or "gw": v.name for k, v in run.output_for_node("api_record").items()}
        for node in ("sky_map_products", "skymap_plot"):
            for m in run.asset_materializations_for_node(node):
                result.products += [str(key) for key in cast(Sequence[str], m.metadata["objects"].value)]
    return result


def ingest_files(
    paths: list[str | Path], settings: GWTMSettings | None = None, instance: DagsterInstance | None = None
) -> list[IngestResult]:
    """Ingest saved notices in the order given."""
    settings = settings or GWTMSettings()
    instance = instance or default_instance()
    resources = build_resources(settings)
    with opened_store(resources["product_storage"]) as store:
        return [ingest_notice(Path(p).read_bytes(), str(p), instance, settings, resources, store) for p in paths]


def replay(
    settings: GWTMSettings | None = None, paths: list[str | Path] | None = None, instance: DagsterInstance | None = None
) -> list[IngestResult]:
    """Re-materialize notices from files, or from storage when none are given, oldest first.

    Partitions and names already decided are reused (the ledger), so replaying
    history posts only what the API has not seen.
    """
    settings = settings or GWTMSettings()
    instance = instance or default_instance()
    resources = build_resources(settings)
    with opened_store(resources["product_storage"]) as store:
        return [
            ingest_notice(raw, where, instance, settings, resources, store)
            for where, raw in notices_oldest_first(store, paths)
        ]
