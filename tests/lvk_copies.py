"""One LVK alert as GWCelery sends it twice: JSON for GCN Kafka, Avro (hop-client's AvroBlob) for Hopskotch."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from hop.models import AvroBlob

from gwtm_assets.notices.avro import alert_schema
from gwtm_assets.notices.ligo import SKYMAP_FIELDS


def alert_of(path: Path) -> dict[str, Any]:
    """A sample's alert, completed as O4 alerts are: the mock samples of 2018 predate ``significant``, which the
    Avro schema requires (both copies get it, as both of one alert carry the same fields)."""
    alert = json.loads(path.read_bytes())
    if alert.get("event") and "significant" not in alert["event"]:
        alert["event"] = {**alert["event"], "significant": True}
    return alert


def json_copy(alert: dict[str, Any]) -> bytes:
    return json.dumps(alert, indent=2).encode()


def avro_record(alert: dict[str, Any]) -> dict[str, Any]:
    """The record GWCelery writes: sky maps as bytes, ``EARLY_WARNING`` spelled as the schema's enum."""
    record = dict(alert)
    if record.get("alert_type") == "EARLY_WARNING":
        record["alert_type"] = "EARLYWARNING"
    for section, field in SKYMAP_FIELDS:
        if record.get(section) and record[section].get(field):
            record[section] = {**record[section], field: base64.b64decode(record[section][field])}
    return record


def avro_blob(alert: dict[str, Any]) -> AvroBlob:
    return AvroBlob(avro_record(alert), schema=alert_schema())


def avro_copy(alert: dict[str, Any]) -> bytes:
    return bytes(avro_blob(alert))
