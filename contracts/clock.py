"""The one clock: "now" and "today in China" for the contracts, the node's services and its SLA rules alike.

Everything that asks what time it is, or what day it is in China, asks here: the contract validators (a date
of something that happened is not after today in China, an event time not after now), the examples, and,
through `exchange.domain.clock` which re-exports this module, every deadline decision of a node. So
`set_clock` (drills, tests of deadlines days apart) moves all of them at once: a record a node builds on the
moved clock is judged by the contracts on that same clock.

Why here: `contracts` is the lowest package (it never imports `exchange`), and its validators need "today",
so the clock lives beside them; `exchange.domain.clock` imports it rather than keeping a second clock.

Instants are kept in UTC; dates are Asia/Shanghai dates (China Standard Time, UTC+8 all year, no daylight
saving), so the China day turns at 16:00 UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

#: China's one time zone: offices record events, and deadlines end, on its calendar days.
CHINA_TZ = ZoneInfo("Asia/Shanghai")
#: The same zone under the name the node's SLA rules use.
SHANGHAI = CHINA_TZ


def wall_clock() -> datetime:
    """The machine's own clock, whatever `set_clock` did (to relate a moved clock to the real one)."""
    return datetime.now(UTC)


_clock: Callable[[], datetime] = wall_clock


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock with `clock` (returning aware datetimes, in any zone); None restores the wall clock."""
    global _clock
    _clock = clock or wall_clock


def utcnow() -> datetime:
    """The current instant, in UTC."""
    return _clock().astimezone(UTC)


def now_in_china() -> datetime:
    """The current instant, on China Standard Time."""
    return _clock().astimezone(CHINA_TZ)


def china_date(instant: datetime) -> date:
    """The Asia/Shanghai date of an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the instant must be timezone-aware")
    return instant.astimezone(CHINA_TZ).date()


def today_in_china() -> date:
    """Today's date in Asia/Shanghai."""
    return now_in_china().date()
