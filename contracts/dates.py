"""Dates of things that happened, judged on the Chinese calendar day.

Offices record events in China Standard Time, so "not in the future" means
not after today in Asia/Shanghai, whatever the server's own time zone.
A record validated when sent stays valid when received: time only moves on.
"Today" and "now" are those of the one clock, `contracts.clock` (which tests and drills move with set_clock).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

from contracts.clock import CHINA_TZ, now_in_china, today_in_china
from contracts.errors import custom_error

__all__ = ["CHINA_TZ", "CLOCK_SKEW", "EventDate", "EventTime", "today_in_china"]

#: Clocks of two nodes disagree a little; a timestamp this far ahead is still accepted.
CLOCK_SKEW = timedelta(minutes=5)


def _not_in_future(value: date) -> date:
    if value > today_in_china():
        raise custom_error("date_in_future")
    return value


def _not_in_future_time(value: datetime) -> datetime:
    if value > now_in_china() + CLOCK_SKEW:
        raise custom_error("date_in_future")
    return value


#: A date on which something happened: today (China) or earlier.
EventDate = Annotated[date, AfterValidator(_not_in_future)]

#: A timezone-aware instant at which something happened (with CLOCK_SKEW tolerance).
EventTime = Annotated[AwareDatetime, AfterValidator(_not_in_future_time)]
