"""gcn.notices.icecube.lvk_nu_track_search notices: parsing and GWTM records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..storage_keys import storage_dir
from .ligo import notice_digest
from .validation import NoticeValidationError, check_event_id, icecube_notice_validator, validate


@dataclass(frozen=True)
class IceCubeNotice:
    """A validated IceCube LVK Nu Track Search notice and its raw bytes."""

    raw: bytes
    content: dict[str, Any]

    @property
    def graceid(self) -> str:
        return str(self.content["ref_ID"])

    @property
    def ref_id(self) -> str:
        """The LVK alert this notice answers, always as a string (the API does not coerce)."""
        return str(self.content["reference"]["gcn.notices.LVK.alert"])

    @property
    def storage_dir(self) -> str:
        return storage_dir(self.graceid)

    @property
    def partition_key(self) -> str:
        """IceCube notices come from one source only, so their key stays the raw bytes' digest."""
        return f"{self.graceid}-IceCube-{notice_digest(self.raw)}"

    def is_partition(self, key: str) -> bool:
        return key == self.partition_key


def parse_icecube_notice(raw: bytes) -> IceCubeNotice:
    """Parse and validate an IceCube notice (either event layout).

    Raises
    ------
    NoticeValidationError
        When the bytes are not JSON, do not follow GCN's schema, or lack the
        fields the GWTM record needs.
    """
    try:
        content = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoticeValidationError(f"IceCube notice is not JSON: {exc}") from exc
    if not isinstance(content, dict):
        raise NoticeValidationError("IceCube notice is not a JSON object")
    validate(content, icecube_notice_validator(), f"IceCube notice {str(content.get('ref_ID', '?'))[:60]}")
    missing = [k for k in ("ref_ID", "reference", "alert_datetime") if k not in content]
    if "gcn.notices.LVK.alert" not in (content.get("reference") or {}):
        missing.append("reference/gcn.notices.LVK.alert")
    if missing:
        raise NoticeValidationError(f"IceCube notice lacks required fields: {', '.join(missing)}")
    check_event_id(content["ref_ID"], "ref_ID")
    return IceCubeNotice(raw=raw, content=content)


def _pair(values: list[float] | None) -> tuple[float | None, float | None]:
    values = list(values or [])
    return (values[0] if values else None, values[1] if len(values) > 1 else None)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def event_record(event: dict[str, Any]) -> dict[str, Any]:
    """One ``events_data`` entry; positions come from ``localization`` or from the event itself."""
    where = event.get("localization") or event
    error = where.get("ra_dec_error", where.get("ra_uncertainty", event.get("ra_uncertainty")))
    return {
        "event_dt": event.get("event_dt"),
        "ra": where.get("ra"),
        "dec": where.get("dec"),
        "containment_probability": where.get("containment_probability", event.get("containment_probability")),
        "event_pval_generic": event.get("event_pval_generic"),
        "event_pval_bayesian": event.get("event_pval_bayesian"),
        "ra_uncertainty": _first(error),
        "uncertainty_shape": event.get("uncertainty_shape", "circle"),
    }


def icecube_record(notice: IceCubeNotice) -> dict[str, Any]:
    """The ``post_icecube_notice`` body: ``{"notice_data": {...}, "events_data": [...]}``."""
    c = notice.content
    direction = c.get("most_probable_direction") or {}
    flux = c.get("neutrino_flux_sensitivity_range") or {}
    flux_low, flux_high = _pair(flux.get("flux_sensitivity"))
    energy_low, energy_high = _pair(flux.get("sensitive_energy_range"))
    notice_data = {
        "ref_id": notice.ref_id,
        "graceid": notice.graceid,
        "alert_datetime": c.get("alert_datetime"),
        "observation_start": c.get("observation_start"),
        "observation_stop": c.get("observation_stop"),
        "pval_generic": c.get("pval_generic"),
        "pval_bayesian": c.get("pval_bayesian"),
        "most_probable_direction_ra": direction.get("ra"),
        "most_probable_direction_dec": direction.get("dec"),
        "flux_sens_low": flux_low,
        "flux_sens_high": flux_high,
        "sens_energy_range_low": energy_low,
        "sens_energy_range_high": energy_high,
    }
    return {"notice_data": notice_data, "events_data": [event_record(e) for e in c.get("coincident_events") or []]}
