"""The monthly bulletin (月度通报) of a province: its counties ranked by on-time feedback rate.

The document a provincial office files each month. One row per county of the province that received or sent a
record of the month's cohort (obligations whose deadline, 24:00 Asia/Shanghai of the due day, fell in the month;
the cohort of the monitor's timeliness answer for that period). Its on-time rate is the timeliness answer's
headline on-time rate: the full cohort's (on time / received) once the month has closed, the assessable one
(on time / received whose deadline has passed) while it runs. The change since the previous month is the
difference of the two rates in percentage points, computed from the counts exactly (one rounding, at the end).

Ranking: on-time rate from high to low; equal rates by more records received first, then by county code. Every
county with a rate gets its own rank (1, 2, 3, ...); a county that received nothing due (it only sent, or all it
received was withdrawn) has no rate and no rank, and comes last, by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from exchange.domain.figures import Basis, Timeliness
from exchange.domain.obligation import local_day
from exchange.domain.problems import Problem

RANKING = ("on-time rate (及时反馈率) from high to low; equal rates: more records received first, then the smaller "
           "county code; counties with no rate (nothing received due) last, unranked, by code")


def month_period(month: str, now: datetime) -> tuple[date, date, date]:
    """(first day of the previous month, first day of the month, first day of the next), for "YYYY-MM"; a month
    that has not begun as of `now` (Asia/Shanghai) has no bulletin."""
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    if start > local_day(now):
        raise Problem("month_not_begun", f"{month} has not begun: there is no bulletin for it yet",
                      f"{month} 尚未开始，还没有该月的通报")
    end = date(year + number // 12, number % 12 + 1, 1)
    previous = date(year - (number == 1), (number - 2) % 12 + 1, 1)
    return previous, start, end


def on_time_share(figures: Timeliness | None, basis: Basis) -> tuple[int, int]:
    """(answered on time, records it divides by) of the rate that heads an answer of this basis."""
    if figures is None:
        return 0, 0
    if basis == "assessable":
        return figures.assessable_answered_on_time, figures.assessable_due
    return figures.answered_on_time, figures.due


def rate(share: tuple[int, int]) -> float | None:
    on_time, of = share
    return on_time / of if of else None


def change_points(current: tuple[int, int], previous: tuple[int, int]) -> float | None:
    """This month's rate minus the previous month's, in percentage points; None when either has no rate."""
    if not current[1] or not previous[1]:
        return None
    return float((Fraction(*current) - Fraction(*previous)) * 100)


@dataclass(frozen=True, slots=True)
class CountyMonth:
    """One county's figures of the month (receiver side but `sent`)."""

    county: str
    figures: Timeliness  # as receiver, of the month's cohort
    sent: int  # obligations of the cohort (not cancelled) whose record the county sent
    overdue_at_month_end: int
    share: tuple[int, int]  # the on-time rate's counts
    previous_share: tuple[int, int]


def ranked(months: list[CountyMonth]) -> list[tuple[int | None, CountyMonth]]:
    """The counties in bulletin order, each with its rank (None: no rate)."""
    with_rate = sorted((m for m in months if m.share[1]),
                       key=lambda m: (-Fraction(*m.share), -m.figures.due, m.county))
    without = sorted((m for m in months if not m.share[1]), key=lambda m: m.county)
    return [*((i, m) for i, m in enumerate(with_rate, 1)), *((None, m) for m in without)]


def row(rank: int | None, month: CountyMonth, name: str | None) -> dict[str, Any]:
    """A county's row of the bulletin."""
    f = month.figures
    return {
        "rank": rank, "county": month.county, "name": name, "received": f.due, "sent": month.sent,
        "answered": f.answered, "answered_on_time": f.answered_on_time, "answered_late": f.answered_late,
        "overdue_at_month_end": month.overdue_at_month_end, "withdrawn": f.withdrawn,
        "on_time_rate": rate(month.share), "previous_on_time_rate": rate(month.previous_share),
        "change_points": change_points(month.share, month.previous_share),
    }
