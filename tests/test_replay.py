"""Replaying history: the replay job registers stored notices oldest first; its sensor backfills them in that order."""

from dagster import DagsterInstance, build_run_status_sensor_context

from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.run_tags import REPLAY_TAG
from gwtm_assets.sensors.replay import replay_backfill_sensor, replay_notices_job

from .conftest import TIME_ORDER, sample


def test_replay_job_registers_stored_notices_oldest_first_and_its_sensor_backfills_them(settings):
    store = LocalObjectStore(settings.local_storage_dir)
    for name in reversed(TIME_ORDER):  # stored in the wrong order on purpose
        directory = "test" if name.startswith("M") else "fit"
        store.put(f"{directory}/{name}_alert.json", sample(name).read_bytes())
    store.put("test/MS181101ab-Broken_alert.json", b'{"superevent_id": "MS181101ab"}')
    instance = DagsterInstance.ephemeral()

    result = replay_notices_job.execute_in_process(
        instance=instance, resources={"product_storage": build_resources(settings)["product_storage"]}
    )
    assert result.success
    # Time order; the two updates created in the same second follow their storage keys (ext-update first).
    order = [*TIME_ORDER[:3], "MS181101ab-ext-update", "MS181101ab-update", *TIME_ORDER[5:]]
    expected = [parse_ligo_notice(sample(name).read_bytes()).partition_key for name in order]
    assert instance.get_dynamic_partitions("gw_alerts") == expected
    for key in expected:
        assert store.exists(f"{'test' if key.startswith('M') else 'fit'}/incoming/{key}.json")
    output = result.output_for_node("register_replay_partitions")
    assert [key for _, key in output] == expected

    context = build_run_status_sensor_context(
        sensor_name="replay_backfill_sensor",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        dagster_event=result.get_run_success_event(),
    )
    requests = replay_backfill_sensor(context)
    assert [r.partition_key for r in requests] == expected
    assert {r.job_name for r in requests} == {"ligo_alert_job"}
    assert requests[0].tags == {"gwtm/event": "MS181101ab", "gwtm/queue": "MS181101ab", REPLAY_TAG: result.run_id}
    assert len({r.run_key for r in requests}) == len(expected)


def test_replay_of_given_files_skips_what_is_not_a_notice(settings, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    files = [str(sample("MS181101ab-update")), str(bad), str(sample("MS181101ab-preliminary"))]
    instance = DagsterInstance.ephemeral()
    result = replay_notices_job.execute_in_process(
        instance=instance,
        resources={"product_storage": build_resources(settings)["product_storage"]},
        run_config={"ops": {"register_replay_partitions": {"config": {"paths": files}}}},
    )
    assert [k.split("-")[1] for _, k in result.output_for_node("register_replay_partitions")] == [
        "Preliminary",
        "Update",
    ]
    output_event = next(e for e in result.all_events if e.is_successful_output)
    assert output_event.event_specific_data.metadata["skipped"].value == {
        str(bad): "notice is not JSON: Expecting value: line 1 column 1 (char 0)"
    }
