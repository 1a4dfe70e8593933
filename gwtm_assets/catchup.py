"""Catch up from GraceDB: every notice GWCelery sent for a superevent, taken from the archive it uploads them to.

GCN's Kafka topics hold about three days and keep no archive; GraceDB does.
GWCelery uploads every notice it sends to its superevent as
``<superevent>-<type>.json`` (``earlywarning``, ``preliminary``, ``initial``,
``update``, ``retraction``); a second notice of a type is a new version of the
same file, which GraceDB lists as ``<name>,0``, ``<name>,1``, ... beside the
bare ``<name>`` (the latest). ``gwtm-cron catch-up`` takes **every version**
(taking only the latest would merge a Preliminary sent twice into one record
and shift every later name), orders them by ``time_created`` across all the
superevents asked for, and lands each one as the sensor lands a Kafka message.

Exactly once, whatever the source: a notice's partition key is derived from
the notice (``notices/ligo.py``), so a notice that GraceDB and Kafka both
delivered maps to one partition. One already in the landing area is reported
and not run again; one that is not is landed, its partition added, and its run
materialized here (or queued with ``--launch``); its record is then named and
posted through the partition's ledger like any other, so a second catch-up, a
replay or the sensor landing the same notice later posts nothing. A caught-up
notice older than records its event already has is given a ``datecreated``
between theirs (``notices/naming.py``), so the site's latest record stays the
event's latest notice.

The client is ``ligo-gracedb``'s, unauthenticated (public superevents), with a
timeout on every request and retries with backoff for GraceDB's transient
answers (503 with Retry-After, 502/504, 408/409) and its rate limit (429).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from ligo.gracedb.exceptions import HTTPError
from ligo.gracedb.rest import GraceDb

from .notices.history import notice_order, parse_notice
from .notices.validation import NoticeValidationError
from .timestamps import utc_naive

#: GraceDB's transient answers and its rate limit, retried with backoff (a 503 only with Retry-After, as the
#: client reads GraceDB's maintenance mode).
RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504)

#: A notice file GWCelery uploads, with the version GraceDB adds when the name was uploaded before.
NOTICE_FILE = re.compile(
    r"^(?P<superevent>[A-Z]*S\d{6}[a-z]+)-(?P<type>earlywarning|preliminary|initial|update|retraction)\.json"
    r"(?:,(?P<version>\d+))?$",
    re.IGNORECASE,
)


class GraceDBError(RuntimeError):
    """GraceDB did not give what was asked (unknown superevent, an error status after the retries, no answer)."""


class _TimedGraceDb(GraceDb):
    """The ligo-gracedb client with a timeout on every request (it sets none, so a stalled answer would hang), and
    its retries on plain-HTTP mirrors too (it mounts them for ``https://`` only)."""

    def __init__(self, *args: Any, timeout_s: float, **kwargs: Any) -> None:
        self._timeout_s = timeout_s
        super().__init__(*args, **kwargs)
        self.mount("http://", self.adapters["https://"])

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout_s
        return super().request(method, url, *args, **kwargs)


def gracedb_client(url: str, *, timeout_s: float = 30.0, retries: int = 5, backoff_factor: float = 0.5) -> GraceDb:
    """An unauthenticated client of the GraceDB API at ``url`` (``GRACEDB_URL``)."""
    return _TimedGraceDb(
        service_url=url,
        force_noauth=True,
        retries=retries,
        retry_codes=list(RETRY_STATUSES),
        backoff_factor=backoff_factor,
        timeout_s=timeout_s,
    )


def _failure(what: str, exc: Exception) -> GraceDBError:
    if isinstance(exc, HTTPError):
        detail = f"HTTP {exc.status_code} {exc.reason}"
    else:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
    return GraceDBError(f"{what}: {detail}")


def superevents_created(client: GraceDb, since: datetime, until: datetime, include_mock: bool = False) -> list[str]:
    """Superevents GraceDB created between ``since`` and ``until`` (naive UTC), oldest first; mock ones (``M...``)
    only if asked."""
    query = f"created: {since:%Y-%m-%d %H:%M:%S} .. {until:%Y-%m-%d %H:%M:%S}"
    try:
        found = list(client.superevents(query=query, orderby=["created"]))
    except (requests.RequestException, ValueError) as exc:
        raise _failure(f"GraceDB superevent query {query!r} at {client._service_url}", exc) from exc
    ids = [str(s["superevent_id"]) for s in found]
    return [s for s in ids if include_mock or not s.startswith("M")]


def notice_file_names(listing: Mapping[str, Any], superevent: str) -> list[str]:
    """Every version of every notice file of ``superevent`` in a GraceDB file listing (``{name: url}``).

    The bare name is the latest version, also listed with its number; it is
    taken only when GraceDB lists no numbered version of it.
    """
    versioned: set[str] = set()
    bare: list[str] = []
    chosen: list[str] = []
    for name in listing:
        match = NOTICE_FILE.match(name)
        if match is None or match["superevent"] != superevent:
            continue
        if match["version"] is None:
            bare.append(name)
        else:
            versioned.add(name.rsplit(",", 1)[0])
            chosen.append(name)
    chosen += [name for name in bare if name not in versioned]

    def version(name: str) -> tuple[str, int]:
        base, _, number = name.partition(",")
        return base.lower(), int(number) if number else -1

    return sorted(chosen, key=version)


@dataclass(frozen=True)
class ArchivedNotice:
    """One notice file from GraceDB, and what it is as a notice."""

    superevent: str
    filename: str
    raw: bytes
    alert_type: str = ""
    time_created: datetime | None = None
    partition_key: str = ""
    problem: str = ""

    @property
    def where(self) -> str:
        return f"gracedb:{self.superevent}/{self.filename}"

    @property
    def is_notice(self) -> bool:
        return not self.problem


def _described(superevent: str, filename: str, raw: bytes) -> ArchivedNotice:
    try:
        kind, notice = parse_notice(raw)
    except NoticeValidationError as exc:
        return ArchivedNotice(superevent, filename, raw, problem=str(exc))
    if kind != "ligo":
        return ArchivedNotice(superevent, filename, raw, problem="not an igwn.gwalert notice")
    content = notice.content
    return ArchivedNotice(
        superevent,
        filename,
        raw,
        alert_type=str(content.get("alert_type") or ""),
        time_created=utc_naive(content.get("time_created")),
        partition_key=notice.partition_key,
    )


def archived_notices(client: GraceDb, superevent: str) -> list[ArchivedNotice]:
    """Every version of every notice file GraceDB holds for ``superevent``, one per distinct notice."""
    try:
        listing = client.files(superevent).json()
    except HTTPError as exc:
        if exc.status_code == 404:
            raise GraceDBError(f"{superevent} is not a (public) superevent at {client._service_url}") from exc
        raise _failure(f"GraceDB files of {superevent}", exc) from exc
    except (requests.RequestException, ValueError) as exc:
        raise _failure(f"GraceDB files of {superevent}", exc) from exc
    notices: dict[bytes, ArchivedNotice] = {}
    for filename in notice_file_names(listing, superevent):
        try:
            raw = client.files(superevent, filename).read()
        except (requests.RequestException, ValueError) as exc:
            raise _failure(f"GraceDB file {superevent}/{filename}", exc) from exc
        notices.setdefault(raw, _described(superevent, filename, raw))
    return list(notices.values())


def in_time_order(notices: Iterable[ArchivedNotice]) -> list[ArchivedNotice]:
    """Notices oldest first (``time_created``, then the alert type's place in an event's sequence)."""
    return sorted(notices, key=lambda n: (notice_order(n.raw), n.where))
