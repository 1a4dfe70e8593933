"""Notices that failed on an outage are re-launched by themselves, spaced out and bounded; a 4xx is final."""

import pytest
from dagster import DagsterInstance, Definitions, build_sensor_context

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.ingest import ingest_files
from gwtm_assets.jobs import ligo_alert_job
from gwtm_assets.notices.history import land
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.resources.gwtm_api import GWTMApiResource
from gwtm_assets.resources.settings import RecoveryConfig
from gwtm_assets.sensors.recovery import build_recovery_sensor, failed_partitions

from .conftest import ADMIN_TOKEN, sample


def _sensor_tick(instance, settings, recovery):
    resources = build_resources(settings) | {"recovery": recovery}
    with build_sensor_context(instance=instance, resources=resources) as context:
        return build_recovery_sensor()(context)


def test_a_rejected_record_fails_once_and_is_not_retried(settings, api_server):
    instance = DagsterInstance.ephemeral()
    bad = settings.model_copy(update={"api_token": "not-an-admin"})
    [result] = ingest_files([sample("S230518h-preliminary")], bad, instance)
    assert not result.success and "HTTP 401" in result.error
    assert len(api_server.state.requests) == 1  # no tenacity, asset or run retry of a 4xx
    [run] = instance.get_runs()
    assert run.is_failure
    assert failed_partitions(instance, run.job_name) == []  # nothing for the recovery sensor either


@pytest.mark.slow
def test_failed_partitions_are_relaunched_once_the_api_answers_in_their_order(settings, api_server):
    instance = DagsterInstance.ephemeral()
    resources = build_resources(settings) | {
        "gwtm_api": GWTMApiResource(api_base=settings.api_base, api_token=ADMIN_TOKEN, max_attempts=1)
    }
    job = Definitions(assets=LIGO_ASSETS, jobs=[ligo_alert_job], resources=resources).resolve_job_def("ligo_alert_job")
    keys = []
    api_server.outage(3600)
    for name in ("MS181101ab-preliminary", "MS181101ab-initial"):
        notice = parse_ligo_notice(sample(name).read_bytes())
        land(resources["product_storage"].object_store(), notice)
        instance.add_dynamic_partitions("gw_alerts", [notice.partition_key])
        run = job.execute_in_process(instance=instance, partition_key=notice.partition_key, raise_on_error=False)
        assert not run.success
        keys.append(notice.partition_key)
    failed = failed_partitions(instance, "ligo_alert_job")
    assert [f.partition_key for f in failed] == keys and all(f.failures == 1 for f in failed)

    recovery = RecoveryConfig(first_delay_s=0.0, max_delay_s=0.0, max_attempts=3)
    waiting = _sensor_tick(instance, settings, recovery)
    assert (
        waiting.run_requests == [] and "GWTM API" in waiting.skip_reason.skip_message
    )  # no run wasted during the outage
    api_server.outage(0)
    relaunched = _sensor_tick(instance, settings, recovery)
    assert [r.partition_key for r in relaunched.run_requests] == keys  # in the order the notices first ran
    assert [r.tags["gwtm/event"] for r in relaunched.run_requests] == ["MS181101ab", "MS181101ab"]

    later = RecoveryConfig(first_delay_s=3600.0, max_delay_s=7200.0, max_attempts=3)
    assert _sensor_tick(instance, settings, later).run_requests == []  # not due yet: spaced out
    spent = RecoveryConfig(first_delay_s=0.0, max_delay_s=0.0, max_attempts=1)
    assert _sensor_tick(instance, settings, spent).run_requests == []  # bounded
