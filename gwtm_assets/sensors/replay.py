"""Replay history through the running listeners: register partitions for stored or given notices, then run them.

``replay_notices_job`` lands each notice (raw ``*_alert.json`` already in
storage, or files named in its config) in the landing area and registers its
partition, oldest first. When it succeeds, ``replay_backfill_sensor`` requests
one run per partition in that order, tagged like any other run of the event
(``gwtm/event``) and with ``gwtm/replay=<run id>``, so the queue runs each
event's notices one at a time in time order. Names already decided (the
ledger) are reused, so only what the API has not seen is posted.

Launch it from the UI (Jobs -> replay_notices_job -> Launchpad), or with
``gwtm-cron replay --launch [FILE...]``.
"""

from typing import cast

from dagster import (
    Config,
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunRequest,
    RunStatusSensorContext,
    job,
    op,
    run_status_sensor,
)
from pydantic import Field

from ..io.object_store import ObjectStore
from ..jobs import event_tags, icecube_notice_job, ligo_alert_job
from ..notices.history import land, notices_oldest_first, parse_notice
from ..notices.validation import NoticeValidationError
from ..partitions import gw_alert_partitions, icecube_notice_partitions
from ..resources.storage import ProductStorage
from ..run_tags import REPLAY_TAG
from ..storage_keys import incoming_notice_key

#: (job, partitions) per notice kind.
_TARGETS = {"ligo": (ligo_alert_job, gw_alert_partitions), "icecube": (icecube_notice_job, icecube_notice_partitions)}


class ReplayConfig(Config):
    paths: list[str] = Field(
        default_factory=list, description="Notice files readable by the run worker; empty: every raw notice in storage."
    )
    partition_keys: list[str] = Field(
        default_factory=list,
        description="Partitions whose notices are already in the landing area (`gwtm-cron catch-up --launch`), "
        "run in this order; when given, `paths` and the rest of storage are not read.",
    )


def _configured_notices(store: ObjectStore, config: ReplayConfig) -> list[tuple[str, bytes]]:
    if config.partition_keys:
        return [(key, store.get(incoming_notice_key(key))) for key in config.partition_keys]
    return notices_oldest_first(store, config.paths or None)


@op(description="Land stored (or given) notices and register their partitions, oldest first.")
def register_replay_partitions(
    context: OpExecutionContext, config: ReplayConfig, product_storage: ProductStorage
) -> Output[list[list[str]]]:
    store = product_storage.object_store()
    registered: list[list[str]] = []
    skipped: dict[str, str] = {}
    for where, raw in _configured_notices(store, config):
        try:
            kind, notice = parse_notice(raw)
        except NoticeValidationError as exc:
            skipped[where] = str(exc)
            context.log.warning("not replaying %s: %s", where, exc)
            continue
        land(store, notice)
        context.instance.add_dynamic_partitions(cast(str, _TARGETS[kind][1].name), [notice.partition_key])
        registered.append([kind, notice.partition_key])
    context.log.info("registered %d partitions for replay (%d skipped)", len(registered), len(skipped))
    return Output(
        registered,
        metadata={
            "partitions": MetadataValue.json(registered),
            "count": len(registered),
            "skipped": MetadataValue.json(skipped),
        },
    )


@job(
    description="Register partitions for stored or given notices; replay_backfill_sensor then runs them in time order."
)
def replay_notices_job():
    register_replay_partitions()


def replayed_partitions(context: RunStatusSensorContext) -> list[list[str]]:
    """``[[kind, partition key], ...]`` registered by the replay run that just succeeded."""
    records = context.instance.get_records_for_run(
        context.dagster_run.run_id, of_type=DagsterEventType.STEP_OUTPUT
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = (getattr(event.event_specific_data, "metadata", None) if event else None) or {}
        if "partitions" in metadata:
            return cast(list[list[str]], metadata["partitions"].value)
    return []


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[replay_notices_job],
    request_jobs=[ligo_alert_job, icecube_notice_job],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Backfills the partitions a replay_notices_job run registered, in time order.",
)
def replay_backfill_sensor(context: RunStatusSensorContext):
    run_id = context.dagster_run.run_id
    return [
        RunRequest(
            job_name=_TARGETS[kind][0].name,
            partition_key=key,
            run_key=f"replay:{run_id}:{key}",
            tags={**event_tags(key), REPLAY_TAG: run_id},
        )
        for kind, key in replayed_partitions(context)
    ]
