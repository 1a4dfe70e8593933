"""Page a person when a notice's partition fails for good: its failure cannot be mended by a retry (a 4xx, an
invalid notice or sky map), or the recovery sensor has used up its tries (``RECOVERY_MAX_ATTEMPTS``).

One message per such failure, so one per partition however long an outage lasts: the recovery sensor's earlier
tries are not final and say nothing. Stream outages are told by ``stream_health_sensor`` (``sensors/health.py``).
"""

from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunsFilter,
    SensorDefinition,
    run_failure_sensor,
)

from ..jobs import event_of
from ..resources.notify import NotifierResource
from ..resources.settings import RecoveryConfig
from ..run_tags import EVENT_TAG, PARTITION_TAG
from .recovery import JOBS, retryable


def failed_step(context: RunFailureSensorContext) -> tuple[str, str]:
    """The step that failed first and why (its failure's description or error), or the run's own message."""
    for record in context.instance.all_logs(context.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is None:
            continue
        data = event.step_failure_data
        cause = data.user_failure_data.description if data.user_failure_data else None
        cause = cause or (data.error.message.strip() if data.error else "") or record.message
        return event.step_key or "?", cause
    return "?", context.failure_event.message or "the run failed"


def build_failure_notification_sensor() -> SensorDefinition:
    @run_failure_sensor(
        name="failed_notice_notification_sensor",
        monitored_jobs=list(JOBS),
        default_status=DefaultSensorStatus.RUNNING,
    )
    def failed_notice_notification_sensor(
        context: RunFailureSensorContext, notifier: NotifierResource, recovery: RecoveryConfig
    ):
        """Notifies (Slack, email) when a notice's partition fails for good: the event, the step, the cause, a link."""
        run = context.dagster_run
        partition = run.tags.get(PARTITION_TAG)
        if not partition or not notifier.configured:
            return
        failures = context.instance.get_runs_count(
            RunsFilter(job_name=run.job_name, tags={PARTITION_TAG: partition}, statuses=[DagsterRunStatus.FAILURE])
        )
        mendable = retryable(context.instance, run.run_id)
        if mendable and failures < recovery.max_attempts:
            context.log.info("%s failed (%d of %d tries): recovery will retry", partition, failures,
                             recovery.max_attempts)  # fmt: skip
            return
        step, cause = failed_step(context)
        event = run.tags.get(EVENT_TAG) or event_of(partition)
        why = "not retryable" if not mendable else f"failed {failures} times; the recovery sensor has stopped trying"
        text = "\n".join(
            [
                f"Event: {event}",
                f"Partition: {partition} (job {run.job_name})",
                f"Step: {step}",
                f"Cause: {cause[:500]}",
                f"Final: {why}",
                f"Run: {notifier.link(f'runs/{run.run_id}')}",
            ]
        )
        sent = notifier.send(f"{event}: {step} failed for good", text)
        context.log.info("notified %s of %s (%s)", ", ".join(sent) or "nobody", partition, why)

    return failed_notice_notification_sensor
