"""Hopskotch's Avro alerts: read with igwn-gwalert-schema's schema, and one partition key for both copies."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from gwtm_assets.notices.avro import alert_schema, json_notice
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.notices.validation import NoticeValidationError
from gwtm_assets.sensors.hopskotch import HopskotchConsumerResource, HopUrlError, parse_hop_url

from .conftest import LIGO_SAMPLES
from .lvk_copies import alert_of, avro_copy, avro_record, json_copy


@pytest.mark.parametrize("path", LIGO_SAMPLES, ids=lambda p: p.stem)
def test_the_avro_and_json_copies_of_an_alert_are_one_notice(path):
    alert = alert_of(path)
    as_json, as_avro = json_copy(alert), avro_copy(alert)
    assert as_avro.startswith(b"Obj\x01") and as_avro != as_json
    from_gcn, from_hop = parse_ligo_notice(as_json), parse_ligo_notice(json_notice(as_avro))
    assert from_hop.partition_key == from_gcn.partition_key
    assert from_hop.content["superevent_id"] == from_gcn.content["superevent_id"]
    assert from_hop.skymaps == from_gcn.skymaps  # the same base64 text: what the sky map asset decodes
    # Whitespace and key order are not content either.
    compact = json.dumps(dict(reversed(list(alert.items()))), separators=(",", ":")).encode()
    assert parse_ligo_notice(compact).partition_key == from_gcn.partition_key


def test_another_sky_map_or_field_is_another_key():
    alert = alert_of(next(p for p in LIGO_SAMPLES if p.stem == "S230518h-preliminary"))
    key = parse_ligo_notice(json_copy(alert)).partition_key
    record = avro_record(alert)
    skymap = bytearray(record["event"]["skymap"])
    skymap[-1] ^= 1  # one bit of the map's last byte
    changed = io.BytesIO()
    fastavro.writer(changed, alert_schema(), [{**record, "event": {**record["event"], "skymap": bytes(skymap)}}])
    assert parse_ligo_notice(json_notice(changed.getvalue())).partition_key != key
    later = {**alert, "time_created": "2023-05-18 13:38:19"}
    assert parse_ligo_notice(json_copy(later)).partition_key != key
    farther = {**alert, "event": {**alert["event"], "far": alert["event"]["far"] * (1 + 1e-15)}}
    assert parse_ligo_notice(json_copy(farther)).partition_key != key


def test_avro_of_another_schema_or_not_avro_is_refused():
    other = {"type": "record", "name": "Other", "namespace": "x", "fields": [{"name": "a", "type": "string"}]}
    written = io.BytesIO()
    fastavro.writer(written, fastavro.parse_schema(other), [{"a": "b"}])
    with pytest.raises(NoticeValidationError, match="unreadable with igwn.alerts.Alert"):
        json_notice(written.getvalue())
    with pytest.raises(NoticeValidationError, match="neither JSON nor an Avro"):
        json_notice(b"\x00garbage")
    truncated = avro_copy(alert_of(LIGO_SAMPLES[0]))[:5000]
    with pytest.raises(NoticeValidationError):
        json_notice(truncated)


def test_hop_url_and_credentials_make_the_consumer_hop_client_would():
    assert parse_hop_url("kafka://kafka.scimma.org/igwn.gwalert") == ("kafka.scimma.org", "igwn.gwalert")
    for bad in ("https://kafka.scimma.org/igwn.gwalert", "kafka://kafka.scimma.org/", "kafka://h/a,b"):
        with pytest.raises(HopUrlError, match="HOP_URL"):
            parse_hop_url(bad)
    hop = HopskotchConsumerResource(url="kafka://kafka.scimma.org/igwn.gwalert", username="gwtm", password="pw")
    config = hop.consumer_config()
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl.username"], config["sasl.password"]) == ("gwtm", "pw")
    assert config["group.id"] == "gwtm-gwtm-listeners"  # Hopskotch lets a credential use groups named after it
    assert config["enable.auto.commit"] is False and config["bootstrap.servers"] == "kafka.scimma.org"
    assert "pw" not in repr(hop)
    plain = HopskotchConsumerResource(url="kafka://127.0.0.1:9092/igwn.gwalert").consumer_config()
    assert "security.protocol" not in plain and plain["group.id"] == "gwtm-listeners"


def test_a_bad_hop_url_stops_the_code_location_naming_it(tmp_path):
    from gwtm_assets.resources.builders import build_resources
    from gwtm_assets.settings import ConfigurationError, GWTMSettings

    with pytest.raises(ConfigurationError, match="HOP_URL"):
        build_resources(GWTMSettings(hop_url="kafka.scimma.org/igwn.gwalert", local_storage_dir=str(tmp_path)))
