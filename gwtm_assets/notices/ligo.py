"""igwn.gwalert notices: parsing, partition keys, product names and GWTM alert records."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..science.skymap import SkymapStatistics
from ..storage_keys import storage_dir
from ..timestamps import utc_iso, utc_naive
from .validation import NoticeValidationError, check_event_id, igwn_alert_validator, validate

#: Stream spellings of ``alert_type`` -> the names GWTM uses.
ALERT_TYPES = {
    "EARLYWARNING": "EarlyWarning",
    "EARLY_WARNING": "EarlyWarning",
    "PRELIMINARY": "Preliminary",
    "INITIAL": "Initial",
    "UPDATE": "Update",
    "RETRACTION": "Retraction",
}
#: GCN notice type numbers.
PACKET_TYPES = {"Preliminary": 150, "Initial": 151, "Update": 152, "EarlyWarning": 163, "Retraction": 164}
EXTERNAL_COINC_SUFFIX = "-ExtCoinc"
DIGEST_LENGTH = 8


#: Where an alert carries a sky map: base64 text in JSON (GCN Kafka, GraceDB), bytes in Avro (Hopskotch).
SKYMAP_FIELDS = (("event", "skymap"), ("external_coinc", "combined_skymap"))


def notice_digest(raw: bytes) -> str:
    """First hex digits of the SHA-256 of a notice's bytes."""
    return hashlib.sha256(raw).hexdigest()[:DIGEST_LENGTH]


def _canonical(value: Any) -> Any:
    """``value`` with what differs between serialisations of one alert taken out: absent, null and empty fields are
    the same (Avro fills its defaults), numbers compare as doubles (JSON writes ``0`` where Avro holds ``0.0``),
    bytes as their SHA-256."""
    if isinstance(value, dict):
        items = ((str(k), _canonical(v)) for k, v in value.items() if v is not None)
        return {k: v for k, v in items if v != {} and v != []}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return str(value)


def with_skymap_bytes(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` with its sky maps as bytes (base64 text decoded; bytes, as Avro gives them, kept)."""
    copied = dict(content)
    for section, field in SKYMAP_FIELDS:
        inner = copied.get(section)
        if isinstance(inner, dict) and isinstance(inner.get(field), str):
            try:
                decoded = base64.b64decode(inner[field], validate=True)
            except (binascii.Error, ValueError):
                continue  # not base64: digested as the text it is (validation says what is wrong with it)
            copied[section] = {**inner, field: decoded}
    return copied


def content_digest(content: dict[str, Any]) -> str:
    """First hex digits of the SHA-256 of an alert's content in canonical form (``_canonical``, sky maps as bytes):
    the same for the JSON an alert arrives as on GCN Kafka or GraceDB and the Avro it arrives as on Hopskotch."""
    normalised = {**content, "alert_type": ALERT_TYPES.get(str(content.get("alert_type")), content.get("alert_type"))}
    canonical = json.dumps(_canonical(with_skymap_bytes(normalised)), sort_keys=True, separators=(",", ":"))
    return notice_digest(canonical.encode())


@dataclass(frozen=True)
class LigoNotice:
    """A validated igwn.gwalert notice and the raw bytes it arrived as."""

    raw: bytes
    content: dict[str, Any]

    @property
    def graceid(self) -> str:
        return self.content["superevent_id"]

    @property
    def alert_type(self) -> str:
        """Normalised type: EarlyWarning, Preliminary, Initial, Update or Retraction."""
        return ALERT_TYPES[self.content["alert_type"]]

    @property
    def role(self) -> str:
        return "test" if self.graceid.startswith("MS") else "observation"

    @property
    def storage_dir(self) -> str:
        return storage_dir(self.graceid)

    @cached_property
    def partition_key(self) -> str:
        """``<superevent>-<type>-<digest of the content>``: one key for one alert, whichever broker or archive it
        came from and however it was serialised (``content_digest``)."""
        return f"{self.graceid}-{self.alert_type}-{content_digest(self.content)}"

    @property
    def legacy_partition_key(self) -> str:
        """The key partitions were made with before keys were derived from the content: the raw bytes' digest."""
        return f"{self.graceid}-{self.alert_type}-{notice_digest(self.raw)}"

    def is_partition(self, key: str) -> bool:
        """Whether ``key`` names this notice's partition (its key, or the one it was landed under before)."""
        return key in (self.partition_key, self.legacy_partition_key)

    @property
    def event(self) -> dict[str, Any]:
        return self.content.get("event") or {}

    @property
    def external_coinc(self) -> dict[str, Any]:
        return self.content.get("external_coinc") or {}

    @property
    def skymaps(self) -> dict[str, str]:
        """Base64 sky maps by record label: ``""`` for the GW map, ``-ExtCoinc`` for the combined map."""
        maps = {}
        if self.event.get("skymap"):
            maps[""] = self.event["skymap"]
        if self.external_coinc.get("combined_skymap"):
            maps[EXTERNAL_COINC_SUFFIX] = self.external_coinc["combined_skymap"]
        return maps

    @property
    def record_labels(self) -> list[str]:
        """One record for the notice, and one more for an external coincidence."""
        return [""] + ([EXTERNAL_COINC_SUFFIX] if self.external_coinc else [])


def parse_ligo_notice(raw: bytes) -> LigoNotice:
    """Parse and validate an igwn.gwalert notice.

    Raises
    ------
    NoticeValidationError
        When the bytes are not JSON or the JSON does not follow the schema.
    """
    try:
        content = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoticeValidationError(f"igwn.gwalert notice is not JSON: {exc}") from exc
    if not isinstance(content, dict):
        raise NoticeValidationError("igwn.gwalert notice is not a JSON object")
    normalised = dict(content)
    if normalised.get("alert_type") == "EARLY_WARNING":
        normalised["alert_type"] = "EARLYWARNING"
    validate(normalised, igwn_alert_validator(), f"igwn.gwalert notice {str(content.get('superevent_id', '?'))[:60]}")
    check_event_id(content.get("superevent_id"), "superevent_id")
    if utc_naive(content.get("time_created")) is None:
        raise NoticeValidationError(f"time_created {str(content.get('time_created'))[:40]!r} is not an ISO 8601 time")
    if normalised["alert_type"] != "RETRACTION" and not (content.get("event") or {}).get("skymap"):
        # Every LVK alert but a retraction carries the event and its sky map; a record without them would show
        # on the site with no area, position or map.
        raise NoticeValidationError(f"{normalised['alert_type']} notice without event.skymap")
    return LigoNotice(raw=raw, content=content)


def _drop_unknown(record: dict[str, Any]) -> dict[str, Any]:
    """Without the fields that are unknown: None, NaN or infinite (a NaN distance means "no distance")."""
    return {k: v for k, v in record.items() if v is not None and not (isinstance(v, float) and not math.isfinite(v))}


def alert_record(
    notice: LigoNotice,
    label: str,
    statistics: SkymapStatistics | None,
    observing_run: str,
    skymap_fits_url: str | None = None,
) -> dict[str, Any]:
    """The GWTM ``post_alert`` record of one of a notice's records (README, "The asset graph").

    ``label`` is ``""`` for the GW record or ``-ExtCoinc`` for the external
    coincidence, whose sky statistics come from the combined map.
    ``skymap_fits_url`` is the storage key of the record's flat map, which the
    site opens for its coverage calculator and renormalised map. Every time is
    naive UTC (``utc_iso``); ``datecreated``, the time of posting, is added by
    whoever posts the record.
    """
    event = notice.event
    properties = event.get("properties") or {}
    classification = event.get("classification") or {}
    record: dict[str, Any] = {
        "graceid": notice.graceid,
        "role": notice.role,
        "alert_type": notice.alert_type + label,
        "packet_type": PACKET_TYPES[notice.alert_type],
        "observing_run": observing_run,
        "timesent": notice.content.get("time_created"),
        "time_of_signal": event.get("time"),
        "detectors": ",".join(event.get("instruments") or []) or None,
        "far": event.get("far"),
        "group": event.get("group"),
        "pipeline": event.get("pipeline"),
        "search": event.get("search"),
        "centralfreq": event.get("central_frequency"),
        "duration": event.get("duration"),
        "prob_hasns": properties.get("HasNS"),
        "prob_hasremenant": properties.get("HasRemnant"),
        "prob_gap": properties.get("HasMassGap"),
        "prob_bns": classification.get("BNS"),
        "prob_nsbh": classification.get("NSBH"),
        "prob_bbh": classification.get("BBH"),
        "prob_terrestrial": classification.get("Terrestrial"),
        "description": (notice.content.get("urls") or {}).get("gracedb"),
        "skymap_fits_url": skymap_fits_url,
    }
    if statistics is not None:
        record.update(
            avgra=statistics.ra,
            avgdec=statistics.dec,
            area_50=statistics.area_50,
            area_90=statistics.area_90,
            distance=statistics.distance,
            distance_error=statistics.distance_error,
            time_of_signal=statistics.time_of_signal or record["time_of_signal"],
            timesent=statistics.date_created or record["timesent"],
        )
    if label == EXTERNAL_COINC_SUFFIX:
        ext = notice.external_coinc
        record.update(
            gcn_notice_id=ext.get("gcn_notice_id"),
            ivorn=ext.get("ivorn"),
            ext_coinc_observatory=ext.get("observatory"),
            ext_coinc_search=ext.get("search"),
            time_difference=ext.get("time_difference"),
            time_coincidence_far=ext.get("time_coincidence_far"),
            time_sky_position_coincidence_far=ext.get("time_sky_position_coincidence_far"),
        )
    for name in ("timesent", "time_of_signal"):
        record[name] = utc_iso(record[name]) if record.get(name) else None
    return _drop_unknown(record)
