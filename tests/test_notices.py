"""Notice parsing, validation, partition keys and records."""

import json

import pytest

from gwtm_assets.notices.icecube import icecube_record, parse_icecube_notice
from gwtm_assets.notices.ligo import alert_record, parse_ligo_notice, product_name
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
