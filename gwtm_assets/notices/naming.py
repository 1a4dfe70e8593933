"""How an alert record is named and posted exactly once: the decisions, as pure functions.

A record is named ``<graceid>-<AlertType>[N]``, ``N`` counting the records of its type the API already holds
(without an API, those the ledger has named). The name and the record's ``datecreated`` (its identity at the API)
are decided once and kept in the partition's ledger in state ``posting`` before the post, then marked ``posted``
with the API's id. So a re-run keeps what is posted, a crash between the post and the ledger (or a lost reply) is
resolved by asking the API before posting, and nothing is renamed. ``api_record`` (``assets/ligo.py``) does the
reading, writing and posting around these decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..timestamps import utc_naive

#: One record's ledger entry: ``name``, ``alert_type``, ``index``, ``datecreated``, ``state`` and, once posted,
#: ``api_id``.
LedgerEntry = dict[str, Any]

#: The smallest step between two ``datecreated`` of one event (the API keeps microseconds).
DATECREATED_STEP = timedelta(milliseconds=1)


class LedgerState(StrEnum):
    POSTING = "posting"
    POSTED = "posted"


class PostAction(StrEnum):
    """What to do with a record, from the state its ledger entry was found in."""

    #: Never named before: post it.
    POST = "post"
    #: Named, and maybe posted before an interruption: ask the API for it, post only if it is not there.
    CONFIRM_THEN_POST = "confirm-then-post"
    #: Posted: never again.
    KEEP = "keep"


def post_action(found: LedgerEntry | None) -> PostAction:
    if found is None:
        return PostAction.POST
    return PostAction.KEEP if found["state"] == LedgerState.POSTED else PostAction.CONFIRM_THEN_POST


def needs_name(found: LedgerEntry | None) -> bool:
    """A record is (re)named when it has no entry, or an interrupted one from before ledgers kept ``datecreated``."""
    return found is None or (found["state"] != LedgerState.POSTED and "datecreated" not in found)


def product_name(graceid: str, alert_type: str, existing: int) -> str:
    """``<graceid>-<AlertType>`` for the first record of a type, then ``...1``, ``...2``."""
    return f"{graceid}-{alert_type}{existing or ''}"


def record_number(
    found: LedgerEntry | None,
    alert_type: str,
    held: Sequence[Mapping[str, Any]] | None,
    count_named_offline: Callable[[], int],
) -> int:
    """``N`` of the name: kept from an earlier entry; else the records of ``alert_type`` the API holds (``held``);
    else, with no API to ask (``held`` None), what ``count_named_offline`` finds the ledger has named."""
    if found is not None:
        return int(found["index"])
    if held is not None:
        return sum(record.get("alert_type") == alert_type for record in held)
    return count_named_offline()


def next_datecreated(held: Sequence[Mapping[str, Any]], after: datetime | None, now: datetime) -> datetime:
    """The record's ``datecreated`` (naive UTC): ``now``, but later than every record the event holds and ``after``.

    The site shows an event's record with the greatest ``datecreated``, so it
    must grow strictly with each record posted, in processing order.
    """
    earlier = [t for t in (utc_naive(record.get("datecreated")) for record in held) if t is not None]
    if after is not None:
        earlier.append(after)
    return max([utc_naive(now) or now, *(t + DATECREATED_STEP for t in earlier)])


#: An alert type's place in an event's sequence, which orders notices created in the same second.
TYPE_RANKS = {"EarlyWarning": 0, "Preliminary": 1, "Initial": 2, "Update": 3, "Retraction": 4}

#: When a notice was made: its ``time_created`` (naive UTC), then its type's rank.
NoticeTime = tuple[datetime, int]


def notice_time(time_created: datetime | None, alert_type: str) -> NoticeTime | None:
    """``(time_created, rank)`` of a notice of ``alert_type`` (GWTM spelling, ``-ExtCoinc`` records included)."""
    if time_created is None:
        return None
    return time_created, TYPE_RANKS.get(alert_type.split("-", 1)[0], len(TYPE_RANKS))


def held_datecreated(held: Sequence[Mapping[str, Any]]) -> list[datetime]:
    """The ``datecreated`` (naive UTC) of the records an event holds."""
    return [t for t in (utc_naive(record.get("datecreated")) for record in held) if t is not None]


def is_late(held: Sequence[Mapping[str, Any]], made: NoticeTime | None) -> bool:
    """Whether the event may hold a record of a notice newer than this one: some record was created after it.

    A record is posted after its notice is created, so when every record's
    ``datecreated`` precedes this notice's ``time_created`` none of them can be
    of a newer notice (the case of every notice taken live).
    """
    return made is not None and any(t >= made[0] for t in held_datecreated(held))


def ordered_datecreated(
    held: Sequence[Mapping[str, Any]],
    made: NoticeTime | None,
    notice_times: Mapping[datetime, NoticeTime],
    after: datetime | None,
    now: datetime,
) -> datetime:
    """The record's ``datecreated`` (naive UTC), keeping an event's records in the order of their notices.

    The site shows an event's record with the greatest ``datecreated``. A notice
    taken late (caught up from GraceDB while a newer notice of its event was
    posted) must not become that record: it gets a ``datecreated`` after every
    record of an older notice and before every record of a newer one, its own
    ``time_created`` when that lies between. ``made`` is when this notice was
    made (:func:`notice_time`); ``notice_times`` maps a held record's
    ``datecreated`` to its notice's where known (the ledgers); a record of
    unknown notice counts as made when it was created. Otherwise (no newer
    notice held) it is :func:`next_datecreated`: the time of posting, after
    every record held and ``after``.
    """
    created = held_datecreated(held)
    newer = [t for t in created if made is not None and notice_times.get(t, (t, len(TYPE_RANKS))) > made]
    if made is None or not newer:
        return next_datecreated(held, after, now)
    upper = min(newer)
    older = [t for t in created if t < upper] + ([after] if after is not None else [])
    lower = max(older, default=None)
    chosen = made[0] if lower is None else max(made[0], lower + DATECREATED_STEP)
    if chosen >= upper:
        # No room at the millisecond step: halfway, still strictly between (the API keeps microseconds).
        chosen = upper - DATECREATED_STEP if lower is None else lower + (upper - lower) / 2
    return chosen


def named_entry(
    graceid: str, alert_type: str, number: int, datecreated: datetime, notice_created: datetime | None = None
) -> LedgerEntry:
    """The entry written before the post (with its notice's ``time_created``, which orders late records)."""
    entry: LedgerEntry = {
        "name": product_name(graceid, alert_type, number),
        "alert_type": alert_type,
        "index": number,
        "datecreated": datecreated.isoformat(timespec="microseconds"),
        "state": LedgerState.POSTING.value,
    }
    if notice_created is not None:
        entry["notice_created"] = notice_created.isoformat(timespec="microseconds")
    return entry


def posted_entry(entry: LedgerEntry, api_id: int | None) -> LedgerEntry:
    """The entry written after the post (or after finding the record already at the API)."""
    return {**entry, "state": LedgerState.POSTED.value, "api_id": api_id}
