"""Time helpers: the exchange keeps instants in UTC and shows dates in Asia/Shanghai."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """The current instant; every deadline decision in the node reads the time here."""
    return _clock().astimezone(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the wall clock (drills and tests of deadlines days apart); None restores it."""
    global _clock
    _clock = clock or (lambda: datetime.now(UTC))


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def on_node_clock(instant: datetime) -> datetime:
    """An instant read off another machine's clock (a broker's append time), on this node's clock: the same,
    unless a drill moved the node's clock (set_clock)."""
    return instant + (utcnow() - datetime.now(UTC))
