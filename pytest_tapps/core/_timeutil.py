"""UTC timestamps in the one text form the project writes: ISO 8601 with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def to_iso(moment: datetime) -> str:
    """Format an aware datetime as UTC ISO 8601 with ``Z`` (``2026-01-15T10:30:00Z``).

    Microseconds are kept only when present, so whole seconds read as the runbook writes them.
    """
    if moment.tzinfo is None:
        message = f"naive datetime {moment!r}: pass an aware datetime (tzinfo=UTC)"
        raise ValueError(message)
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.removesuffix("+00:00") + "Z"


def from_epoch(seconds: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def parse_iso(text: str, *, naive_is_local: bool = False) -> datetime:
    """Parse an ISO 8601 timestamp into an aware UTC datetime.

    A timestamp without an offset is rejected, unless ``naive_is_local`` is true, in which case it
    is read as the machine's local time (the real tapps-agents package writes such timestamps).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not an ISO 8601 timestamp (expected e.g. '2026-01-15T10:30:00Z')"
        raise ValueError(message) from None
    if moment.tzinfo is None:
        if not naive_is_local:
            message = f"{text!r} has no time zone: write it in UTC with a 'Z' suffix"
            raise ValueError(message)
        moment = moment.astimezone()  # naive -> the machine's local zone
    return moment.astimezone(UTC)
