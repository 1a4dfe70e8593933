"""The asset graph materialized with Dagster on the bundled samples, against the contract-checking API."""

import json
import time

import pytest
from dagster import (
    DagsterExecutionInterruptedError,
    DagsterInstance,
    DagsterRunStatus,
    build_asset_context,
    materialize,
)

from gwtm_assets.assets import LIGO_ASSETS, icecube, ligo
from gwtm_assets.assets.common import retried_asset
from gwtm_assets.definitions import build_definitions
from gwtm_assets.ingest import ingest_files
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.storage_keys import incoming_notice_key

from .conftest import ICECUBE_SAMPLES, TIME_ORDER, TIME_ORDER_NAMES, sample


def _store(settings):
    return LocalObjectStore(settings.local_storage_dir)


def test_definitions_load_with_every_asset_and_check():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "raw_alert",
        "skymap",
        "api_record",
        "alert_files",
        "contours",
        "moc",
        "skymap_plot",
        "icecube_notice",
        "icecube_record",
    } <= keys
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {
        "contours_enclose_their_probability",
        "moc_areas_match_credible_areas",
        "flat_maps_sum_to_one",
        "stream_alive",  # on the incoming-notice assets: quiet or down (sensors/health.py)
    }
    # api_record needs only the notice and the sky map statistics: it never waits for products.
    assert {k.to_user_string() for k in graph.get(ligo.api_record.key).parent_keys} == {"raw_alert", "skymap"}


@pytest.mark.parametrize("terminated", [True, False], ids=["terminated", "pod-stopped"])
def test_an_interrupted_step_ends_when_the_run_was_terminated_and_is_retried_otherwise(terminated):
    """Dagster retries an interrupted step that has a retry policy; an operator's terminate must end the run."""
    attempts = []

    @retried_asset()
    def posting(context):
        attempts.append(context.retry_number)
        if len(attempts) == 1:
            if terminated:  # what the launcher's terminate does before it interrupts the worker
                context.instance.report_run_canceling(context.run)
            raise DagsterExecutionInterruptedError()
        return 1

    instance = DagsterInstance.ephemeral()
    result = materialize([posting], instance=instance, raise_on_error=False)
    status = instance.get_run_by_id(result.run_id).status
    if terminated:
        assert (attempts, status) == ([0], DagsterRunStatus.CANCELED)
    else:
        assert (attempts, status) == ([0, 1], DagsterRunStatus.SUCCESS)


@pytest.mark.slow
def test_whole_life_of_an_event_posts_each_record_once_with_contract_names(settings, api_server):
    paths = [sample(name) for name in TIME_ORDER]
    results = ingest_files(paths, settings, DagsterInstance.ephemeral())
    assert [r.success for r in results] == [True] * len(paths), [r.error for r in results]
    assert all(r.checks_passed for r in results)
    assert [r.names for r in results] == TIME_ORDER_NAMES
    posted = [r.body for r in api_server.state.posted("post_alert")]
    assert [p["alert_type"] for p in posted] == [
        "EarlyWarning", "Preliminary", "Initial", "Update", "Update", "Update-ExtCoinc", "Retraction", "Preliminary",
    ]  # fmt: skip
    # Mock events ask the API to clear old mock alerts; real ones do not.
    assert len(api_server.state.posted("del_test_alerts")) == 6
    store = _store(settings)
    for name, directory in [("MS181101ab-Preliminary", "test"), ("S230518h-Preliminary", "fit")]:
        for suffix in (
            "_alert.json",
            ".fits.gz",
            "_moc.fits.gz",
            "-contours-smooth.json",
            "-moc50.fits",
            "-moc90.fits",
            "-skymap.png",
        ):
            assert store.exists(f"{directory}/{name}{suffix}"), f"{directory}/{name}{suffix}"
    assert store.get("test/MS181101ab-Update1_alert.json") == sample("MS181101ab-ext-update").read_bytes()
    assert store.exists("test/MS181101ab-Update-ExtCoinc.fits.gz")
    assert store.get("test/MS181101ab-Update-ExtCoinc-skymap.png").startswith(b"\x89PNG")
    assert store.exists("test/MS181101ab-Retraction_alert.json")
    assert not store.exists("test/MS181101ab-Retraction.fits.gz")


@pytest.mark.slow
def test_records_follow_the_contract(settings, api_server):
    results = ingest_files(
        [sample("S230518h-preliminary"), sample("MS181101ab-ext-update")], settings, DagsterInstance.ephemeral()
    )
    assert all(r.success for r in results)
    records = {r.body["alert_type"] + r.body["graceid"]: r.body for r in api_server.state.posted("post_alert")}
    o4 = records["PreliminaryS230518h"]
    assert o4["role"] == "observation" and o4["packet_type"] == 150 and o4["detectors"] == "H1,L1"
    assert o4["area_90"] == pytest.approx(1002.05, abs=0.01) and o4["area_50"] == pytest.approx(265.81, abs=0.01)
    assert o4["distance"] == pytest.approx(275.54, abs=0.01) and o4["timesent"].startswith("2023-05-18T12:59:27")
    assert o4["prob_nsbh"] == pytest.approx(0.8642645) and o4["prob_hasns"] == 1.0
    ext = records["Update-ExtCoincMS181101ab"]
    assert ext["gcn_notice_id"] == 524666471 and ext["ext_coinc_observatory"] == "Fermi"
    assert ext["area_90"] == pytest.approx(27.706, abs=0.01)  # from the combined map
    assert records["UpdateMS181101ab"]["role"] == "test"
    # Every request carried the admin token.
    assert all(r.status != 401 for r in api_server.state.requests)


def test_rematerializing_a_partition_posts_nothing_and_renames_nothing(settings, api_server):
    instance = DagsterInstance.ephemeral()
    first = ingest_files([sample("MS181101ab-preliminary"), sample("MS181101ab-update")], settings, instance)
    again = ingest_files([sample("MS181101ab-update"), sample("MS181101ab-preliminary")], settings, instance)
    assert [r.names for r in first] == [r.names for r in reversed(again)]
    assert len(api_server.state.posted("post_alert")) == 2


def test_crash_between_ledger_and_post_is_recovered_without_a_second_post(settings, api_server):
    """The ledger says "posting" but the post went through: the re-run finds it and keeps the name."""
    instance = DagsterInstance.ephemeral()
    ingest_files([sample("MS181101ab-preliminary")], settings, instance)
    notice = parse_ligo_notice(sample("MS181101ab-preliminary").read_bytes())
    ledger_key = f"test/ledger/{notice.partition_key}.json"
    store = _store(settings)
    entry = json.loads(store.get(ledger_key))
    entry[""]["state"] = "posting"
    store.put(ledger_key, json.dumps(entry).encode())
    [result] = ingest_files([sample("MS181101ab-preliminary")], settings, instance)
    assert result.names == {"gw": "MS181101ab-Preliminary"}
    assert len(api_server.state.posted("post_alert")) == 1


def test_malformed_notice_fails_its_partition_only_and_says_why(settings, api_server, tmp_path):
    bad = json.loads(sample("MS181101ab-preliminary").read_bytes())
    bad["alert_type"] = "SOMETHING"
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00not json")
    results = ingest_files([bad_path, garbage, sample("S230518h-preliminary")], settings, DagsterInstance.ephemeral())
    assert not results[0].success and "alert_type" in results[0].error and "SOMETHING" in results[0].error
    assert not results[1].success and "not JSON" in results[1].error
    assert results[2].success


def test_bad_sky_map_fails_the_skymap_asset_with_a_clear_error(settings, api_server):
    content = json.loads(sample("MS181101ab-preliminary").read_bytes())
    content["event"]["skymap"] = "bm90IGEgRklUUyBmaWxl"  # base64 of "not a FITS file"
    raw = json.dumps(content).encode()
    notice = parse_ligo_notice(raw)
    instance = DagsterInstance.ephemeral()
    resources = build_resources(settings)
    resources["product_storage"].object_store().put(incoming_notice_key(notice.partition_key), raw)
    instance.add_dynamic_partitions("gw_alerts", [notice.partition_key])
    result = materialize(
        LIGO_ASSETS,
        partition_key=notice.partition_key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "skymap"
    assert "FITS" in str(failure.event_specific_data.error)
    assert api_server.state.posted("post_alert") == []


@pytest.mark.slow
def test_api_outage_is_retried_and_the_record_posted_once(settings, api_server):
    api_server.outage(3.0)
    [result] = ingest_files([sample("S230518h-preliminary")], settings, DagsterInstance.ephemeral())
    assert result.success
    assert len(api_server.state.posted("post_alert")) == 1
    assert any(r.status == 503 for r in api_server.state.requests)


def test_dry_run_posts_nothing_and_writes_no_storage(settings, api_server, tmp_path):
    dry = settings.model_copy(update={"dry_run": True})
    [result] = ingest_files([sample("MS181101ab-preliminary")], dry, DagsterInstance.ephemeral())
    assert result.success
    assert api_server.state.requests == []
    store = _store(settings)
    assert not any(not o.key.startswith((".dry-run", "intermediates/")) for o in store.list())


def test_icecube_notices_in_both_layouts_are_posted_once(settings, api_server):
    instance = DagsterInstance.ephemeral()
    results = ingest_files(ICECUBE_SAMPLES + ICECUBE_SAMPLES, settings, instance)
    assert all(r.success for r in results), [r.error for r in results]
    bodies = [r.body for r in api_server.state.posted("post_icecube_notice")]
    assert len(api_server.state.icecube_notices) == 2
    by_ref = {b["notice_data"]["ref_id"]: b for b in bodies}
    assert set(by_ref) == {"4642", "S230914ak-2-Preliminary"}  # ref_id always a string
    flat = by_ref["4642"]["events_data"][0]
    nested = by_ref["S230914ak-2-Preliminary"]["events_data"][0]
    assert flat["ra_uncertainty"] == 0.51 and flat["ra"] == 345.82
    assert nested["ra_uncertainty"] == 0.5 and nested["dec"] == 16.15 and nested["uncertainty_shape"] == "circle"


def test_raw_alert_asset_rejects_a_notice_landed_under_another_partition():
    raw = sample("MS181101ab-preliminary").read_bytes()
    context = build_asset_context(partition_key="MS181101ab-Preliminary-00000000")
    with pytest.raises(ValueError, match="not the partition"):
        ligo.raw_alert(context, raw)


def test_icecube_assets_directly(settings):
    raw = ICECUBE_SAMPLES[0].read_bytes()
    from gwtm_assets.notices.icecube import parse_icecube_notice

    key = parse_icecube_notice(raw).partition_key
    notice = icecube.icecube_notice(build_asset_context(partition_key=key), raw).value
    assert notice.graceid in ("MS230427r", "S230914ak")


def test_skymap_asset_metadata_is_what_the_ui_shows():
    notice = parse_ligo_notice(sample("MS181101ab-ext-update").read_bytes())
    started = time.perf_counter()
    output = ligo.skymap(notice)
    assert time.perf_counter() - started < 30
    assert set(output.value) == {"", "-ExtCoinc"}
    assert output.metadata["area_90_deg2"].value == pytest.approx(30.98, abs=0.01)
    assert output.metadata["max_order"].value == 11


def test_products_load_back_through_the_io_manager(settings, api_server):
    from dagster import Definitions

    instance = DagsterInstance.ephemeral()
    [result] = ingest_files([sample("MS181101ab-preliminary")], settings, instance)
    defs = Definitions(assets=LIGO_ASSETS, resources=build_resources(settings))
    contours = defs.load_asset_value("contours", partition_key=result.partition_key, instance=instance)
    [(key, data)] = contours.files.items()
    assert key == "test/MS181101ab-Preliminary-contours-smooth.json"
    assert data == _store(settings).get(key)
    assert json.loads(data)["type"] == "FeatureCollection"


def test_one_sky_map_product_rematerializes_alone_with_only_its_check(settings, api_server):
    """The three sky-map products are made by one step (``sky_map_products``), yet each is an asset of its own: the
    UI's selection of one makes that one, evaluates its check, and leaves the others as they were."""
    from dagster import AssetKey, DagsterEventType

    instance = DagsterInstance.ephemeral()
    [result] = ingest_files([sample("MS181101ab-preliminary")], settings, instance)
    made_by_ingest = instance.get_latest_materialization_event(AssetKey("alert_files")).run_id
    again = materialize(
        LIGO_ASSETS, selection=["contours"], partition_key=result.partition_key, instance=instance,
        resources=build_resources(settings),
    )  # fmt: skip
    assert again.success
    made = {m.asset_key.to_user_string() for m in again.asset_materializations_for_node("sky_map_products")}
    assert made == {"contours"}
    checked = {e.check_name for e in again.get_asset_check_evaluations()}
    assert checked == {"contours_enclose_their_probability"}
    steps = {e.step_key for e in again.all_events if e.event_type == DagsterEventType.STEP_START}
    assert steps == {"sky_map_products"}
    assert instance.get_latest_materialization_event(AssetKey("alert_files")).run_id == made_by_ingest


@pytest.mark.slow
def test_without_an_api_repeated_types_are_numbered_from_the_ledger(settings, api_server):
    offline = settings.model_copy(update={"api_base": ""})
    instance = DagsterInstance.ephemeral()
    paths = [sample("MS181101ab-update"), sample("MS181101ab-ext-update")]
    results = ingest_files(paths, offline, instance)
    assert [r.names for r in results] == [
        {"gw": "MS181101ab-Update"},
        {"gw": "MS181101ab-Update1", "-ExtCoinc": "MS181101ab-Update-ExtCoinc"},
    ]
    assert api_server.state.requests == []
    # Re-running keeps the names.
    assert [r.names for r in ingest_files(paths, offline, instance)] == [r.names for r in results]


@pytest.mark.slow
def test_replay_from_storage_in_time_order_posts_only_what_is_missing(settings, api_server, tmp_path):
    from gwtm_assets.ingest import replay

    ingest_files([sample("MS181101ab-update"), sample("MS181101ab-preliminary")], settings, DagsterInstance.ephemeral())
    # A new instance and an API that lost its records: replay rebuilds them from stored raw notices, oldest first.
    api_server.state.alerts.clear()
    api_server.state.requests.clear()
    for ledger in _store(settings).list("test/ledger/"):
        _store(settings).delete(ledger.key)
    results = replay(settings, instance=DagsterInstance.ephemeral())
    assert [r.alert_type for r in results] == ["Preliminary", "Update"]
    assert all(r.success for r in results)
    assert [p.body["alert_type"] for p in api_server.state.posted("post_alert")] == ["Preliminary", "Update"]
    # Replaying again finds everything in the ledger.
    assert [r.names for r in replay(settings, instance=DagsterInstance.ephemeral())] == [r.names for r in results]
    assert len(api_server.state.posted("post_alert")) == 2


def test_science_checks_are_recorded_per_alert_partition(settings, api_server):
    from dagster import AssetCheckKey, AssetKey

    instance = DagsterInstance.ephemeral()
    results = ingest_files([sample("S230518h-preliminary"), sample("MS181101ab-preliminary")], settings, instance)
    keys = [r.partition_key for r in results]
    for asset_name, check in [("contours", "contours_enclose_their_probability"),
                              ("moc", "moc_areas_match_credible_areas"), ("alert_files", "flat_maps_sum_to_one")]:  # fmt: skip
        history = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset_name), check), limit=10
        )
        evaluations = [r.event.dagster_event.event_specific_data for r in history]
        assert sorted(e.partition for e in evaluations) == sorted(keys), check
        assert all(e.passed for e in evaluations)


@pytest.mark.parametrize("with_fermi", [True, False])
def test_skymap_plot_is_shown_inline_and_drawn_after_the_record(settings, api_server, tmp_path, with_fermi):
    from dagster import AssetKey

    if with_fermi:  # an element set at the signal's epoch and an FT2 file covering it: both layers drawn
        from gwtm_assets.resources.fermi import fermi_met

        from .fermi_fixtures import write_ft2
        from .test_visibility import S230518H, write_element_sets

        tle, ft2 = write_element_sets(tmp_path / "fermi.tle", [S230518H]), tmp_path / "ft2"
        ft2.mkdir()
        write_ft2(ft2 / "ft2_20230518.fits", fermi_met(S230518H) - 3600, fermi_met(S230518H) + 3600, 200.0, 30.0)
        settings = settings.model_copy(update={"fermi_tle_source": str(tle), "fermi_ft2_source": str(ft2)})
    instance = DagsterInstance.ephemeral()
    assert all(r.success for r in ingest_files([sample("S230518h-preliminary")], settings, instance))
    [record] = instance.fetch_materializations(AssetKey("skymap_plot"), limit=1).records
    metadata = record.asset_materialization.metadata
    picture = metadata["S230518h-Preliminary-skymap.png"].value
    assert picture.startswith("![fit/S230518h-Preliminary-skymap.png](data:image/png;base64,")
    # Drawn with the Fermi coverage exactly when the visibility asset made it.
    assert metadata["gbm_occultation"].value is with_fermi
    assert metadata["lat_field"].value is with_fermi
    assert _store(settings).exists("fit/S230518h-Fermi.json") is with_fermi
    assert _store(settings).exists("fit/S230518h-Preliminary-skymap.png")
    [posted] = instance.fetch_materializations(AssetKey("api_record"), limit=1).records
    assert posted.timestamp < record.timestamp
