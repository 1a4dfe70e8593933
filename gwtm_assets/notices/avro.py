"""igwn.gwalert in Avro, as LVK publishes it on SCiMMA Hopskotch: read with the schema igwn-gwalert-schema ships.

GWCelery sends every alert twice: JSON on GCN Kafka and an Avro object
container (hop-client's ``AvroBlob``: the writer's schema in the header, one
record) on Hopskotch. The record is read with ``igwn.alerts.Alert.avsc`` as
the reader's schema, so a message written with another schema is refused
rather than guessed at, and turned into the JSON GCN carries (sky maps as
base64 text), which is what is landed: every later step sees one format.
"""

from __future__ import annotations

import base64
import io
import json
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.types import Schema

from .validation import NoticeValidationError

#: The first bytes of an Avro object container file.
AVRO_MAGIC = b"Obj\x01"


@cache
def alert_schema() -> Schema:
    """igwn-gwalert-schema's ``igwn.alerts.Alert`` Avro schema, parsed."""
    text = (resources.files("igwn_gwalert_schema") / "igwn.alerts.Alert.avsc").read_text()
    return fastavro.parse_schema(json.loads(text))


def avro_alert_content(raw: bytes) -> dict[str, Any]:
    """The one alert record of an Avro object container, read with the Alert schema.

    Raises
    ------
    NoticeValidationError
        When the bytes are no Avro container, its writer's schema cannot be
        read as the Alert schema, or it holds other than one record.
    """
    if not raw.startswith(AVRO_MAGIC):
        raise NoticeValidationError("igwn.gwalert message is neither JSON nor an Avro object container")
    try:
        records = list(fastavro.reader(io.BytesIO(raw), reader_schema=alert_schema()))
    except Exception as exc:  # noqa: BLE001 -- fastavro raises many types for bad input; each means "not an alert"
        raise NoticeValidationError(
            f"igwn.gwalert Avro message unreadable with igwn.alerts.Alert ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    if len(records) != 1:
        raise NoticeValidationError(f"igwn.gwalert Avro message holds {len(records)} records, not one alert")
    record = records[0]
    if not isinstance(record, dict):
        raise NoticeValidationError("igwn.gwalert Avro record is not a record")
    return record


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def json_notice(raw: bytes) -> bytes:
    """A Hopskotch message as igwn.gwalert JSON: an Avro alert converted, JSON (a ``JSONBlob``) as it is."""
    if raw.lstrip()[:1] == b"{":
        return raw
    return json.dumps(_as_json(avro_alert_content(raw))).encode()
