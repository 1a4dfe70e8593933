"""Re-launch notices whose run failed on an outage, once the API and storage answer again.

GWTM maintenance windows outlast the asset retries (seconds) and Dagster's run
retries (back to back). This sensor retries a failed partition by itself,
spaced out (``first_delay_s`` doubling up to ``max_delay_s``) and bounded
(``max_attempts`` runs in all), only while the API and storage answer, and in
the order the notices first ran, so an event's records keep their order. A
failure that retrying cannot mend (the API rejected the record with a 4xx, an
invalid notice or sky map: ``retryable: false`` in the failure's metadata)
is left to the operator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ..jobs import event_tags, icecube_notice_job, ligo_alert_job, ligo_products_job, ligo_record_job, products_tags
from ..resources.gwtm_api import GWTMApiError, GWTMApiResource
from ..resources.settings import RecoveryConfig
from ..resources.storage import ProductStorage
from ..run_tags import PARTITION_TAG
from ..storage_keys import ledger_prefix

RECOVERY_TAG = "gwtm/recovery"
JOBS = (ligo_record_job, ligo_products_job, ligo_alert_job, icecube_notice_job)


@dataclass(frozen=True)
class FailedPartition:
    job_name: str
    partition_key: str
    failures: int
    first_created: float
    last_failed: float
    retryable: bool = True


def retryable(instance: DagsterInstance, run_id: str) -> bool:
    """False when a step failed with ``retryable: false`` in its failure metadata (a 4xx, an invalid notice)."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        if record.dagster_event is None:
            continue
        failure = record.dagster_event.step_failure_data.user_failure_data
        flag = failure.metadata.get("retryable") if failure is not None else None
        if flag is not None and flag.value is False:
            return False
    return True


def failed_partitions(
    instance: DagsterInstance, job_name: str, limit: int = 500, retryable_only: bool = True
) -> list[FailedPartition]:
    """Partitions of ``job_name`` whose latest run failed with something a retry may mend (any failure, with
    ``retryable_only`` false), oldest notice first."""
    runs: dict[str, list] = {}
    for record in instance.get_run_records(RunsFilter(job_name=job_name), limit=limit, ascending=True):
        key = record.dagster_run.tags.get(PARTITION_TAG)
        if key:
            runs.setdefault(key, []).append(record)
    found = []
    for key, records in runs.items():
        latest = records[-1]
        if latest.dagster_run.status != DagsterRunStatus.FAILURE:
            continue
        mendable = retryable(instance, latest.dagster_run.run_id)
        if retryable_only and not mendable:
            continue
        found.append(
            FailedPartition(
                job_name=job_name,
                partition_key=key,
                failures=sum(r.dagster_run.status == DagsterRunStatus.FAILURE for r in records),
                first_created=records[0].create_timestamp.timestamp(),
                last_failed=(latest.end_time or latest.update_timestamp.timestamp()),
                retryable=mendable,
            )
        )
    return sorted(found, key=lambda f: f.first_created)


def lane_tags(job_name: str, partition_key: str) -> dict[str, str]:
    """A re-launched run's tags: a products run goes back to its event's products lane, any other to the event's."""
    return products_tags(partition_key) if job_name == ligo_products_job.name else event_tags(partition_key)


def services_answer(gwtm_api: GWTMApiResource, storage: ProductStorage) -> str | None:
    """None when the API and storage answer; else what does not."""
    try:
        gwtm_api.query_alerts("S000000a")  # answers [] when up; a cheap GET
    except GWTMApiError as exc:
        return f"GWTM API: {exc}"
    try:
        storage.object_store().exists(ledger_prefix("fit", "") + ".probe")
    except Exception as exc:  # noqa: BLE001 -- any backend error means "not yet"
        return f"storage: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def build_recovery_sensor():
    @sensor(
        name="failed_notice_recovery_sensor",
        jobs=list(JOBS),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def failed_notice_recovery_sensor(
        context: SensorEvaluationContext,
        gwtm_api: GWTMApiResource,
        product_storage: ProductStorage,
        recovery: RecoveryConfig,
    ):
        """Re-launches partitions that failed on an outage, spaced out and bounded, once the API and storage answer."""
        now = time.time()
        due = []
        for job in JOBS:
            for failed in failed_partitions(context.instance, job.name):
                if failed.failures >= recovery.max_attempts:
                    continue
                delay = min(recovery.first_delay_s * 2 ** (failed.failures - 1), recovery.max_delay_s)
                if now - failed.last_failed >= delay:
                    due.append(failed)
        if not due:
            return SensorResult(skip_reason="no failed notice is due for another try")
        problem = services_answer(gwtm_api, product_storage)
        if problem:
            return SensorResult(skip_reason=f"{len(due)} failed notice(s) wait: {problem}")
        requests = []
        for failed in sorted(due, key=lambda f: f.first_created):
            context.log.info("re-launching %s (failed %d time(s))", failed.partition_key, failed.failures)
            requests.append(
                RunRequest(
                    job_name=failed.job_name,
                    partition_key=failed.partition_key,
                    run_key=f"{failed.partition_key}-recovery-{failed.failures}",
                    tags=lane_tags(failed.job_name, failed.partition_key) | {RECOVERY_TAG: str(failed.failures)},
                )
            )
        return SensorResult(run_requests=requests)

    return failed_notice_recovery_sensor
