"""JSON-schema validation of incoming notices.

LIGO/Virgo/KAGRA notices are checked against the schema of the
``igwn-gwalert-schema`` package; IceCube notices against GCN's schema,
vendored under ``gwtm_assets/schemas/gcn``.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
from dagster import Failure
from referencing import Registry, Resource

GCN_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "gcn"
ICECUBE_SCHEMA = GCN_SCHEMA_DIR / "icecube" / "lvk_nu_track_search.schema.json"


class NoticeValidationError(ValueError):
    """A notice does not match its schema; the message lists every problem with its JSON path."""


@cache
def igwn_alert_validator() -> jsonschema.Draft202012Validator:
    """Validator for igwn.gwalert notices.

    Tolerates what real older notices carry: ``EARLY_WARNING`` is normalised
    before validation, and ``event.significant`` (added to the schema in 2023)
    is optional.
    """
    text = (resources.files("igwn_gwalert_schema") / "igwn.alerts.Alert.schema.json").read_text()
    schema = copy.deepcopy(json.loads(text))
    for branch in schema["properties"]["event"]["oneOf"]:
        if "required" in branch:
            branch["required"] = [name for name in branch["required"] if name != "significant"]
    return jsonschema.Draft202012Validator(schema)


@cache
def icecube_notice_validator() -> jsonschema.Draft202012Validator:
    """Validator for gcn.notices.icecube.lvk_nu_track_search notices (GCN schema, vendored)."""
    registry = Registry()
    for path in GCN_SCHEMA_DIR.rglob("*.schema.json"):
        contents = json.loads(path.read_text())
        registry = registry.with_resource(contents.get("$id", path.as_uri()), Resource.from_contents(contents))
    return jsonschema.Draft202012Validator(json.loads(ICECUBE_SCHEMA.read_text()), registry=registry)


def validate(document: object, validator: jsonschema.Draft202012Validator, what: str) -> None:
    """Raise :class:`NoticeValidationError` naming every schema violation of ``document``."""
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}" for e in errors)
        raise NoticeValidationError(f"{what} fails its schema: {problems}")


#: GraceDB superevent ids as the streams send them: S (real), MS (mock) or TS (test), the UTC date, a letter suffix.
#: IceCube's ``ref_ID`` is the superevent id of the LVK alert it follows.
SUPEREVENT_ID = re.compile(r"[MT]?S\d{6}[a-z]{1,4}")


def check_event_id(value: object, field: str) -> str:
    """``value`` if it is a superevent id; anything else (``..``, ``/``, NUL, 10,000 characters) is refused,
    since event ids become parts of storage keys."""
    if not isinstance(value, str) or not SUPEREVENT_ID.fullmatch(value):
        shown = repr(value)[:60] + ("..." if len(repr(value)) > 60 else "")
        raise NoticeValidationError(f"{field} {shown} is not a GraceDB superevent id (e.g. S230518h, MS181101ab)")
    return value


def final_failure(exc: Exception) -> Failure:
    """A failure no retry can mend (an invalid notice or sky map): the step fails once, marked ``retryable: false``
    so neither the retry policies nor the recovery sensor run it again."""
    return Failure(description=str(exc), metadata={"retryable": False}, allow_retries=False)
