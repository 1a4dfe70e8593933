"""The one timestamp convention of everything posted: naive ISO 8601 in UTC."""

from datetime import UTC, datetime
from typing import Any


def utc_naive(value: Any) -> datetime | None:
    """An ISO 8601 time as a naive UTC datetime (offsets converted; naive values are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def utc_iso(value: Any) -> str | None:
    """The one timestamp convention of every record: naive ISO 8601 in UTC, to the microsecond.

    The server stores naive values as sent and shifts values carrying an offset
    into its database session's zone, so offsets are never sent.
    """
    parsed = utc_naive(value) if value is not None else None
    return parsed.isoformat(timespec="microseconds") if parsed else None
