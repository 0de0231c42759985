"""Time for the node: instants kept in UTC, dates shown and deadlines ended in Asia/Shanghai.

The clock itself is `contracts.clock`, the one clock of the contracts, the services and the SLA rules (the
contracts may not import the exchange, so it lives there, and this module re-exports it): `set_clock` here
moves "now" for the node and "today in China" for the contract validators alike. This module adds what only
a node needs: reading SQLite's naive datetimes (`as_utc`) and another machine's timestamps (`on_node_clock`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.clock import (
    CHINA_TZ,
    SHANGHAI,
    china_date,
    now_in_china,
    set_clock,
    today_in_china,
    utcnow,
    wall_clock,
)

__all__ = ["CHINA_TZ", "SHANGHAI", "as_utc", "china_date", "now_in_china", "on_node_clock", "set_clock",
           "today_in_china", "utcnow"]


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def on_node_clock(instant: datetime) -> datetime:
    """An instant read off another machine's clock (a broker's append time), on this node's clock: the same,
    unless a drill moved the node's clock (set_clock)."""
    return instant + (utcnow() - wall_clock())
