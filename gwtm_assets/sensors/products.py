"""Request a LIGO notice's products once its records are posted, so that no record waits for products.

The stream sensor requests one ``ligo_record_job`` run per notice (``raw_alert``,
``skymap``, ``api_record``), in its event's lane of the run queue: an event's
records are posted one notice at a time, in arrival order. This sensor
requests, for each of those runs that posted its records (it succeeded, or
failed after ``api_record``), the ``ligo_products_job`` run
of the same partition (the files, contours, MOCs, visibility, galaxy list,
picture), in the event's products lane (one at a time per event, at most two
products runs at once, dequeued after waiting records: ``dagster.yaml``). An
event's next record therefore waits only for the records before it.

Exactly once: the cursor holds the update time of the last record run seen and
the runs seen within ``OVERLAP_S`` before it (a run's update time is taken
before its write commits, so a later query can still find one stamped earlier);
the run key is the record run's id, so a run seen twice is requested once. A
failed products run is re-launched by ``failed_notice_recovery_sensor``. A
tick waits up to ``LONG_POLL_S`` for a record run to finish, as the notice
sensors wait for a message; while record runs wait in the queue, it requests
nothing (up to ``MAX_DEFER_S``), so that in a burst the daemon creates and
launches the records' runs first.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ..jobs import ligo_products_job, ligo_record_job, products_tags
from ..run_tags import PARTITION_TAG

#: The asset whose materialization means a notice's records are posted.
RECORD_ASSET = AssetKey("api_record")
#: Seconds before the cursor searched again for record runs whose success committed late.
OVERLAP_S = 10.0
#: Record runs taken per tick; a longer backlog continues on the next tick.
MAX_RUNS_PER_TICK = 200
#: As the notice sensors wait for a message, a tick waits for a record run to finish (one query of the run storage
#: every ``POLL_INTERVAL_S``) and returns at the first: the products start within ~0.3 s of their record, not on
#: the daemon's next 5 s loop.
LONG_POLL_S = 4.3
POLL_INTERVAL_S = 0.25
#: The longest products wait while record runs are queued (records first, but products not starved).
MAX_DEFER_S = 60.0


def products_requests(instance: DagsterInstance, cursor: str | None) -> tuple[list[RunRequest], str]:
    """The products runs due for record runs that succeeded since ``cursor``, and the cursor after them."""
    state = json.loads(cursor) if cursor else {}
    after = float(state.get("after", 0.0))
    seen: dict[str, float] = dict(state.get("seen", {}))
    records = instance.get_run_records(
        RunsFilter(
            job_name=ligo_record_job.name,
            statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
            updated_after=datetime.fromtimestamp(max(after - OVERLAP_S, 0.0), UTC),
        ),
        limit=MAX_RUNS_PER_TICK,
        order_by="update_timestamp",
        ascending=True,
    )
    requests = []
    for record in records:
        run = record.dagster_run
        if run.run_id in seen:
            continue
        updated = record.update_timestamp.timestamp()
        seen[run.run_id] = updated
        after = max(after, updated)
        key = run.tags.get(PARTITION_TAG)
        if key and record_posted(instance, run):
            requests.append(RunRequest(partition_key=key, run_key=f"{run.run_id}:products", tags=products_tags(key)))
    seen = {run_id: at for run_id, at in seen.items() if at >= after - OVERLAP_S}
    return requests, json.dumps({"after": after, "seen": seen}, sort_keys=True)


def record_posted(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Whether the record run materialized ``api_record``: a succeeded run did; a failed one may have too (its
    worker died after the post, before the run ended: every step done, so Dagster's run retry has nothing to
    re-run), and its products are due all the same."""
    if run.status == DagsterRunStatus.SUCCESS:
        return True
    made = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    return any(
        r.event_log_entry.dagster_event.asset_key == RECORD_ASSET for r in made if r.event_log_entry.dagster_event
    )


def records_waiting(instance: DagsterInstance) -> int:
    """Record runs created and not yet started: while there are any, the daemon's time goes to them first."""
    waiting = RunsFilter(
        job_name=ligo_record_job.name, statuses=[DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED]
    )
    return len(instance.get_run_ids(waiting, limit=MAX_RUNS_PER_TICK))


def deferred(cursor: str | None, waiting: int, now: float) -> tuple[str | None, str | None]:
    """``(cursor, why)`` while products wait for queued records (at most ``MAX_DEFER_S``), else ``(cursor, None)``.

    In a burst, creating runs is most of what the daemon does (~0.3-1 s each); requesting products then would
    make every record run wait behind products runs being created.
    """
    state = json.loads(cursor) if cursor else {}
    since = state.pop("deferred_since", None)
    if waiting and (since is None or now - since < MAX_DEFER_S):
        state["deferred_since"] = since if since is not None else now
        return json.dumps(state, sort_keys=True), f"{waiting} record run(s) wait in the queue; their products follow"
    return (json.dumps(state, sort_keys=True) if state else None), None


@sensor(
    name="ligo_products_sensor",
    job=ligo_products_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
)
def ligo_products_sensor(context: SensorEvaluationContext) -> SensorResult:
    """Requests the products of every LIGO notice whose records were just posted (one run per notice)."""
    deadline = time.monotonic() + LONG_POLL_S
    cursor = context.cursor
    while True:
        cursor, why = deferred(cursor, records_waiting(context.instance), time.time())
        if why is None:
            requests, cursor = products_requests(context.instance, cursor)
            if requests:
                return SensorResult(run_requests=requests, cursor=cursor)
        if time.monotonic() >= deadline:
            return SensorResult(cursor=cursor, skip_reason=why or "no record run finished since the last tick")
        time.sleep(POLL_INTERVAL_S)
