"""Notice parsing, validation, partition keys and records."""

import json

import pytest

from gwtm_assets.notices.icecube import icecube_record, parse_icecube_notice
from gwtm_assets.notices.ligo import alert_record, parse_ligo_notice
from gwtm_assets.notices.naming import product_name
from gwtm_assets.notices.validation import NoticeValidationError

from .conftest import ICECUBE_SAMPLES, LIGO_SAMPLES, sample


@pytest.mark.parametrize("path", LIGO_SAMPLES, ids=lambda p: p.stem)
def test_every_ligo_sample_validates(path):
    notice = parse_ligo_notice(path.read_bytes())
    assert notice.partition_key.startswith(f"{notice.graceid}-{notice.alert_type}-")
    assert notice.partition_key == parse_ligo_notice(path.read_bytes()).partition_key


def test_early_warning_spellings_normalise():
    raw = sample("MS181101ab-earlywarning").read_bytes()
    assert json.loads(raw)["alert_type"] == "EARLY_WARNING"
    assert parse_ligo_notice(raw).alert_type == "EarlyWarning"
    modern = raw.replace(b'"EARLY_WARNING"', b'"EARLYWARNING"')
    assert parse_ligo_notice(modern).alert_type == "EarlyWarning"


def test_partition_keys_differ_for_different_notices_of_one_type():
    update = parse_ligo_notice(sample("MS181101ab-update").read_bytes())
    ext = parse_ligo_notice(sample("MS181101ab-ext-update").read_bytes())
    assert update.partition_key != ext.partition_key
    assert update.partition_key.startswith("MS181101ab-Update-")


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda c: c.pop("superevent_id"), "superevent_id"),
        (lambda c: c["event"].__setitem__("far", "high"), "event"),
        (lambda c: c.__setitem__("alert_type", "NEWS"), "alert_type"),
    ],
)
def test_invalid_ligo_notice_errors_name_the_problem(mutate, expected):
    content = json.loads(sample("MS181101ab-preliminary").read_bytes())
    mutate(content)
    with pytest.raises(NoticeValidationError, match=expected):
        parse_ligo_notice(json.dumps(content).encode())


def test_not_json_is_a_validation_error():
    with pytest.raises(NoticeValidationError, match="not JSON"):
        parse_ligo_notice(b"\xff\xfe")
    with pytest.raises(NoticeValidationError, match="not JSON"):
        parse_icecube_notice(b"{")


def test_retraction_record_has_what_it_carries():
    notice = parse_ligo_notice(sample("MS181101ab-retraction").read_bytes())
    record = alert_record(notice, "", None, "O4")
    assert record == {
        "graceid": "MS181101ab", "role": "test", "alert_type": "Retraction", "packet_type": 164, "observing_run": "O4",
        "timesent": "2018-11-01T23:36:23.000000",  # naive UTC; datecreated is added when posting
        "description": "https://example.org/superevents/MS181101ab/view/",
    }  # fmt: skip


def test_product_names_number_repeats():
    assert product_name("S1", "Update", 0) == "S1-Update"
    assert product_name("S1", "Update", 2) == "S1-Update2"
    assert product_name("S1", "Update-ExtCoinc", 1) == "S1-Update-ExtCoinc1"


@pytest.mark.parametrize("path", ICECUBE_SAMPLES, ids=lambda p: p.stem)
def test_icecube_samples_validate_and_map_to_records(path):
    notice = parse_icecube_notice(path.read_bytes())
    body = icecube_record(notice)
    assert isinstance(body["notice_data"]["ref_id"], str)
    assert body["notice_data"]["graceid"] == notice.graceid
    assert len(body["events_data"]) == json.loads(path.read_bytes())["n_events_coincident"]
    for event in body["events_data"]:
        assert isinstance(event["ra_uncertainty"], float) and event["uncertainty_shape"] == "circle"


def test_icecube_schema_violation_is_named():
    content = json.loads(ICECUBE_SAMPLES[0].read_bytes())
    content["pval_generic"] = "small"
    with pytest.raises(NoticeValidationError, match="pval_generic"):
        parse_icecube_notice(json.dumps(content).encode())


@pytest.mark.parametrize("key", ["../etc/x", "fit/../x", "/fit/x", "fit//x", "fit/x\x00", "", "fit/./x"])
def test_unsafe_object_keys_are_refused_by_every_write_path(key, tmp_path):
    from gwtm_assets.io.object_store import LocalObjectStore, StorageError, check_key

    with pytest.raises(StorageError, match="unsafe object key"):
        check_key(key)
    with pytest.raises(StorageError):
        LocalObjectStore(tmp_path).put(key, b"x")


@pytest.mark.parametrize("good", ["S230518h", "MS181101ab", "TS190425z", "S240422ed"])
def test_superevent_ids_the_streams_send_are_accepted(good):
    from gwtm_assets.notices.validation import check_event_id

    assert check_event_id(good, "superevent_id") == good


def _variant(name: str, **changes) -> bytes:
    return json.dumps(json.loads(sample(name).read_bytes()) | changes).encode()


@pytest.mark.parametrize(
    "raw,reason",
    [
        (_variant("S230518h-preliminary", event=None), "PRELIMINARY notice without event.skymap"),
        (_variant("S230518h-preliminary", time_created="not-a-date"), "is not an ISO 8601 time"),
        (_variant("S230518h-preliminary", superevent_id=""), "is not a GraceDB superevent id"),
    ],
)
def test_notices_the_site_could_not_use_are_refused_with_the_reason(raw, reason):
    with pytest.raises(NoticeValidationError, match=reason):
        parse_ligo_notice(raw)


def test_a_gzip_bomb_sky_map_is_refused_before_it_fills_memory():
    import gzip

    from gwtm_assets.science.skymap import MAX_SKYMAP_BYTES, SkymapError, read_multiorder_fits

    bomb = gzip.compress(b"\0" * (MAX_SKYMAP_BYTES + 1_000_000))
    with pytest.raises(SkymapError, match="decompresses to over"):
        read_multiorder_fits(bomb)


def test_non_finite_numbers_never_reach_a_record():
    from dataclasses import replace

    from gwtm_assets.science.skymap import skymap_statistics

    from .conftest import load_sky

    sky, _ = load_sky(sample("S230518h-preliminary"))
    stats = replace(skymap_statistics(sky), distance=float("nan"), distance_error=float("inf"))
    record = alert_record(parse_ligo_notice(sample("S230518h-preliminary").read_bytes()), "", stats, "O4")
    assert "distance" not in record and "distance_error" not in record


def test_a_failed_local_write_leaves_no_temporary_file(tmp_path):
    from gwtm_assets.io.object_store import LocalObjectStore, StorageError

    def full_disk():
        yield b"part"
        raise OSError(28, "No space left on device")

    store = LocalObjectStore(tmp_path)
    with pytest.raises(StorageError, match="No space left"):
        store.put_chunks("fit/x.fits.gz", full_disk(), 8, None)
    assert [p.name for p in (tmp_path / "fit").iterdir()] == []


def test_ingest_reports_a_notice_it_cannot_land_and_goes_on(settings, api_server, monkeypatch):
    from dagster import DagsterInstance

    from gwtm_assets.ingest import ingest_files
    from gwtm_assets.io import object_store

    real_put = object_store.LocalObjectStore.put

    def refuse_s230518h(self, key, data):
        if "S230518h" in key:
            raise object_store.StorageError(f"local: cannot write {key}: disk full")
        return real_put(self, key, data)

    monkeypatch.setattr(object_store.LocalObjectStore, "put", refuse_s230518h)
    results = ingest_files(
        [sample("S230518h-preliminary"), sample("MS181101ab-preliminary")], settings, DagsterInstance.ephemeral()
    )
    assert "cannot land the notice" in results[0].error and "disk full" in results[0].error
    assert results[1].ok
