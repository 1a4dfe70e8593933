"""Notices as found in files and storage: what kind each is, when it was made, where stored ones are."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..io.object_store import ObjectStore
from ..storage_keys import RAW_NOTICE, incoming_notice_key, incoming_prefix
from .icecube import IceCubeNotice, parse_icecube_notice
from .ligo import LigoNotice, parse_ligo_notice
from .validation import NoticeValidationError


def notice_kind(raw: bytes) -> str:
    """``ligo`` or ``icecube``, from the notice's fields."""
    try:
        content = json.loads(raw)
    except ValueError as exc:
        raise NoticeValidationError(f"notice is not JSON: {exc}") from exc
    if isinstance(content, dict) and "superevent_id" in content:
        return "ligo"
    if isinstance(content, dict) and "ref_ID" in content:
        return "icecube"
    raise NoticeValidationError("neither an igwn.gwalert notice (superevent_id) nor an IceCube notice (ref_ID)")


def parse_notice(raw: bytes) -> tuple[str, LigoNotice | IceCubeNotice]:
    """``(kind, parsed notice)``; raises NoticeValidationError for anything that is not a valid notice."""
    kind = notice_kind(raw)
    return kind, (parse_ligo_notice(raw) if kind == "ligo" else parse_icecube_notice(raw))


#: Where notices created in the same second go: the order GraceDB issues them in.
ALERT_TYPE_ORDER = {"EARLY_WARNING": 0, "PRELIMINARY": 1, "INITIAL": 2, "UPDATE": 3, "RETRACTION": 4}


def notice_order(raw: bytes) -> tuple[str, int]:
    """Sort key for replay in time order: creation time (``time_created`` or ``alert_datetime``), then alert type."""
    try:
        content = json.loads(raw)
        created = str(content.get("time_created") or content.get("alert_datetime") or "")
        return created, ALERT_TYPE_ORDER.get(str(content.get("alert_type")), len(ALERT_TYPE_ORDER))
    except (ValueError, AttributeError):
        return "", len(ALERT_TYPE_ORDER)


def stored_notices(store: ObjectStore) -> list[tuple[str, bytes]]:
    """Raw notices already in ``store`` (``*_alert.json`` and the landing area), deduplicated by content."""
    found: dict[bytes, str] = {}
    for directory in ("fit", "test"):
        for info in store.list(f"{directory}/"):
            name = info.key.rsplit("/", 1)[-1]
            if name.endswith(RAW_NOTICE) or info.key.startswith(incoming_prefix(directory)):
                found.setdefault(store.get(info.key), info.key)
    return [(key, raw) for raw, key in found.items()]


def notices_oldest_first(
    store: ObjectStore | None, paths: Sequence[str | Path] | None = None
) -> list[tuple[str, bytes]]:
    """``(where, raw)`` of the given files, or of every notice in ``store`` when none are given, oldest first."""
    if not paths and store is None:
        raise ValueError("give notice files or a store to read them from")
    if paths:
        notices = [(str(p), Path(p).read_bytes()) for p in paths]
    else:
        assert store is not None
        notices = stored_notices(store)
    return sorted(notices, key=lambda item: (notice_order(item[1]), item[0]))


def landed_as(store: ObjectStore, notice: LigoNotice | IceCubeNotice) -> str | None:
    """The partition key under which ``notice`` is already landed, or None.

    Its own key, or that of a landed notice of the same event and type with the
    same content in other bytes: one landed under the key of the raw bytes'
    digest, before LIGO keys were derived from the content, or another
    serialisation that predates it. One alert taken from several sources, or
    again after an upgrade, is one partition.
    """
    if store.exists(incoming_notice_key(notice.partition_key)):
        return notice.partition_key
    same_kind = incoming_notice_key(notice.partition_key).rsplit("-", 1)[0] + "-"
    for info in store.list(same_kind):
        key = info.key.rsplit("/", 1)[-1].removesuffix(".json")
        raw = store.get(info.key)
        try:
            landed = type(notice)(raw=raw, content=json.loads(raw))
        except ValueError:
            continue
        if landed.partition_key == notice.partition_key or landed.content == notice.content:
            return key
    return None


def land(store: ObjectStore, notice: LigoNotice | IceCubeNotice) -> None:
    """Store a notice's raw bytes in the landing area its partition reads."""
    store.put(incoming_notice_key(notice.partition_key), notice.raw)
