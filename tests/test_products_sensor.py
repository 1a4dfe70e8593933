"""A LIGO notice from the stream runs as its record, then its products: the second run is requested once, after the
first succeeded, in the event's products lane, and makes every product from the posted record."""

import json
import time

from dagster import DagsterInstance, DagsterRunStatus, Definitions, build_sensor_context
from dagster._core.test_utils import create_run_for_test

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.jobs import ligo_products_job, ligo_record_job
from gwtm_assets.notices.history import land
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.runtime.run_coordinator import event_tags_for
from gwtm_assets.sensors.products import MAX_DEFER_S, OVERLAP_S, deferred, ligo_products_sensor, products_requests
from gwtm_assets.storage_keys import FLAT_MAP, product_key

from .conftest import sample

KEY = "S230518h-Preliminary-0123456789ab"


def _run(instance, job_name, status, key=KEY):
    return create_run_for_test(instance, job_name=job_name, status=status, tags={"dagster/partition": key})


def test_each_succeeded_record_run_gets_one_products_run_in_its_events_products_lane():
    instance = DagsterInstance.ephemeral()
    done = _run(instance, "ligo_record_job", DagsterRunStatus.SUCCESS)
    _run(instance, "ligo_record_job", DagsterRunStatus.FAILURE, "S230518h-Initial-0123456789ab")
    _run(instance, "ligo_alert_job", DagsterRunStatus.SUCCESS, "S230518h-Update-0123456789ab")  # whole notice
    requests, cursor = products_requests(instance, None)
    [request] = requests
    assert request.partition_key == KEY and request.run_key == f"{done.run_id}:products"
    assert request.tags == {
        "gwtm/event": "S230518h",
        "gwtm/queue": "S230518h/products",
        "gwtm/stage": "products",
        "dagster/priority": "-1",
    }
    assert products_requests(instance, cursor)[0] == []  # seen: never requested twice

    later = _run(instance, "ligo_record_job", DagsterRunStatus.SUCCESS, "S230518h-Update-abcdefabcdef")
    [request] = products_requests(instance, cursor)[0]
    assert request.run_key == f"{later.run_id}:products"


def test_a_run_stamped_before_the_cursor_but_committed_after_it_is_still_found_within_the_overlap():
    instance = DagsterInstance.ephemeral()
    late = _run(instance, "ligo_record_job", DagsterRunStatus.SUCCESS)
    ahead = json.dumps({"after": time.time() + OVERLAP_S / 2, "seen": {}})
    assert [r.run_key for r in products_requests(instance, ahead)[0]] == [f"{late.run_id}:products"]
    beyond = json.dumps({"after": time.time() + 2 * OVERLAP_S, "seen": {}})
    assert products_requests(instance, beyond)[0] == []


def test_the_queue_puts_a_products_run_in_the_products_lane_and_any_other_run_in_the_events_lane():
    assert event_tags_for({"dagster/partition": KEY}) == {"gwtm/event": "S230518h", "gwtm/queue": "S230518h"}
    assert event_tags_for({"dagster/partition": KEY, "gwtm/stage": "products"}) == {
        "gwtm/event": "S230518h",
        "gwtm/queue": "S230518h/products",
    }
    assert event_tags_for({"dagster/partition": KEY, "gwtm/event": "S230518h", "gwtm/queue": "x"}) == {}


def test_the_record_run_posts_and_the_products_run_it_requests_makes_the_files_the_record_names(settings, api_server):
    instance = DagsterInstance.ephemeral()
    resources = build_resources(settings)
    defs = Definitions(assets=LIGO_ASSETS, jobs=[ligo_record_job, ligo_products_job], resources=resources)
    notice = parse_ligo_notice(sample("S230518h-preliminary").read_bytes())
    store = resources["product_storage"].object_store()
    land(store, notice)
    instance.add_dynamic_partitions("gw_alerts", [notice.partition_key])

    record = defs.resolve_job_def("ligo_record_job").execute_in_process(
        instance=instance, partition_key=notice.partition_key
    )
    materialized = {e.asset_key.to_user_string() for e in record.get_asset_materialization_events()}
    assert materialized == {"raw_alert", "skymap", "api_record"}
    [posted] = api_server.state.posted("post_alert")
    name = posted.body["graceid"] + "-" + posted.body["alert_type"]
    assert not store.exists(product_key(notice.storage_dir, name, FLAT_MAP))  # the record did not wait for it

    with build_sensor_context(instance=instance) as context:
        [request] = ligo_products_sensor(context).run_requests
    products = defs.resolve_job_def("ligo_products_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags
    )
    assert products.success
    made = {e.asset_key.to_user_string() for e in products.get_asset_materialization_events()}
    assert {"alert_files", "contours", "moc", "skymap_plot"} <= made and "api_record" not in made
    assert store.exists(product_key(notice.storage_dir, name, FLAT_MAP))
    assert len(api_server.state.posted("post_alert")) == 1  # the products run posts no record


def test_products_wait_while_record_runs_are_queued_but_never_longer_than_the_bound():
    cursor, why = deferred(None, waiting=3, now=1000.0)
    assert why is not None and "3 record run(s)" in why
    cursor, why = deferred(cursor, waiting=1, now=1000.0 + MAX_DEFER_S - 1)
    assert why is not None  # still within the bound
    cursor, why = deferred(cursor, waiting=1, now=1000.0 + MAX_DEFER_S)
    assert why is None  # the bound reached: products go ahead though records wait
    assert deferred(cursor, waiting=0, now=2000.0)[1] is None
    kept = json.dumps({"after": 5.0, "seen": {}})
    cursor, why = deferred(kept, waiting=0, now=2000.0)
    assert why is None and json.loads(cursor) == {"after": 5.0, "seen": {}}  # the record cursor is kept


def test_the_sensor_requests_nothing_while_a_record_run_is_queued():
    instance = DagsterInstance.ephemeral()
    _run(instance, "ligo_record_job", DagsterRunStatus.SUCCESS)
    _run(instance, "ligo_record_job", DagsterRunStatus.NOT_STARTED, "S230518h-Initial-0123456789ab")  # created
    with build_sensor_context(instance=instance) as context:
        result = ligo_products_sensor(context)
    assert result.run_requests == [] and "wait in the queue" in result.skip_reason.skip_message


def test_a_record_run_that_failed_after_its_post_still_gets_its_products(settings, api_server):
    """The worker died after api_record, before the run ended: Dagster fails the run and has no step to retry."""
    instance = DagsterInstance.ephemeral()
    resources = build_resources(settings)
    defs = Definitions(assets=LIGO_ASSETS, jobs=[ligo_record_job], resources=resources)
    notice = parse_ligo_notice(sample("MS181101ab-preliminary").read_bytes())
    land(resources["product_storage"].object_store(), notice)
    instance.add_dynamic_partitions("gw_alerts", [notice.partition_key])
    record = defs.resolve_job_def("ligo_record_job").execute_in_process(
        instance=instance, partition_key=notice.partition_key
    )
    run = instance.get_run_by_id(record.run_id)
    instance.report_run_failed(run)
    assert instance.get_run_by_id(record.run_id).status == DagsterRunStatus.FAILURE
    [request] = products_requests(instance, None)[0]
    assert request.partition_key == notice.partition_key
