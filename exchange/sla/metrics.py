"""Timeliness figures for provincial monitors: counts, rates and response times, never personal data.

Cohort: the obligations whose due day (the last day still on time, the day
whose 24:00 is the deadline) falls in the period ``[start, end)`` of
Asia/Shanghai dates. A deadline of "24:00 on 31 October" belongs to October.

Counts per group, as of ``now``:
- ``cancelled``: cancelled obligations of the cohort; they count nowhere else.
- ``due`` = answered + overdue_open + open_not_due (every other obligation of the cohort).
- ``answered`` = answered_on_time + answered_late.
- ``overdue_open``: unanswered and past the deadline at ``now``.
- ``open_not_due``: unanswered, deadline not passed (or paused for clarification).

Rates (None when due = 0): feedback rate (反馈率) = answered / due; on-time
rate (及时反馈率) = answered_on_time / due.

Response time: working days from receipt to the first answer (see ``clock``),
over the answered obligations of the cohort; median and p90 by the
nearest-rank method (the value at rank ceil(p/100 x n) of the sorted values,
so always an observed whole number; the median of an even count is the lower
middle value). Each group keeps the histogram of response days so that
``combine`` can recompute them exactly for a roll-up.

Roll-ups (a province from its counties) add counts and histograms and compute
the rates from the sums (``combine``), never by averaging rates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from exchange.sla.clock import Status, day_of_deadline, status


class TimelinessFacts(Protocol):
    """The fields metrics read: an ``Obligation`` has them, so can a light row from storage."""

    due_at: datetime
    answered_at: datetime | None
    cancelled_at: datetime | None
    response_working_days: int | None

    @property
    def paused(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TimelinessRow:
    """A light row with just what metrics need (e.g. selected from storage)."""

    due_at: datetime
    answered_at: datetime | None = None
    cancelled_at: datetime | None = None
    response_working_days: int | None = None
    paused: bool = False
    receiver: str = ""
    sender: str = ""
    message_type: str = ""


def nearest_rank(histogram: Iterable[tuple[int, int]], percent: int) -> int | None:
    """The nearest-rank percentile of values given as (value, count) pairs; None if there are none."""
    pairs = sorted((v, c) for v, c in histogram if c > 0)
    n = sum(c for _, c in pairs)
    if n == 0:
        return None
    rank = max(1, -(-percent * n // 100))  # ceil(percent/100 * n)
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


@dataclass(frozen=True, slots=True)
class Timeliness:
    """Counts for one group; rates and percentiles derive from them."""

    due: int = 0
    answered: int = 0
    answered_on_time: int = 0
    answered_late: int = 0
    overdue_open: int = 0
    open_not_due: int = 0
    cancelled: int = 0
    response_histogram: tuple[tuple[int, int], ...] = ()  # (working days, count), sorted

    @property
    def feedback_rate(self) -> float | None:
        return self.answered / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.answered_on_time / self.due if self.due else None

    @property
    def median_response_working_days(self) -> int | None:
        return nearest_rank(self.response_histogram, 50)

    @property
    def p90_response_working_days(self) -> int | None:
        return nearest_rank(self.response_histogram, 90)

    def to_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "answered": self.answered,
            "answered_on_time": self.answered_on_time,
            "answered_late": self.answered_late,
            "overdue_open": self.overdue_open,
            "open_not_due": self.open_not_due,
            "cancelled": self.cancelled,
            "feedback_rate": self.feedback_rate,
            "on_time_rate": self.on_time_rate,
            "median_response_working_days": self.median_response_working_days,
            "p90_response_working_days": self.p90_response_working_days,
            "response_histogram": [list(p) for p in self.response_histogram],
        }


class _Tally:
    __slots__ = ("counts", "histogram")

    def __init__(self) -> None:
        self.counts: Counter[Status] = Counter()
        self.histogram: Counter[int] = Counter()

    def freeze(self) -> Timeliness:
        c = self.counts
        answered = c[Status.ANSWERED_ON_TIME] + c[Status.ANSWERED_LATE]
        return Timeliness(
            due=answered + c[Status.OVERDUE] + c[Status.OPEN],
            answered=answered,
            answered_on_time=c[Status.ANSWERED_ON_TIME],
            answered_late=c[Status.ANSWERED_LATE],
            overdue_open=c[Status.OVERDUE],
            open_not_due=c[Status.OPEN],
            cancelled=c[Status.CANCELLED],
            response_histogram=tuple(sorted(self.histogram.items())),
        )


K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=TimelinessFacts)


def in_cohort(row: TimelinessFacts, start: date, end: date) -> bool:
    """True if the row's due day lies in [start, end)."""
    return start <= day_of_deadline(row.due_at) < end


def timeliness(
    rows: Iterable[R],
    *,
    now: datetime,
    start: date,
    end: date,
    key: Callable[[R], K] = lambda _row: "all",  # type: ignore[assignment,return-value]
) -> dict[K, Timeliness]:
    """Timeliness per group of the cohort due in [start, end), as of `now`.

    `key` groups rows, e.g. ``lambda ob: ob.receiver[:2]`` for receiving provinces.
    Groups with no row in the cohort are absent.
    """
    tallies: dict[K, _Tally] = {}
    for row in rows:
        if not in_cohort(row, start, end):
            continue
        tally = tallies.setdefault(key(row), _Tally())
        st = status(row, now)
        tally.counts[st] += 1
        if st in (Status.ANSWERED_ON_TIME, Status.ANSWERED_LATE) and row.response_working_days is not None:
            tally.histogram[row.response_working_days] += 1
    return {k: t.freeze() for k, t in tallies.items()}


def combine(groups: Iterable[Timeliness]) -> Timeliness:
    """Roll several groups up into one: counts and histograms add; rates come from the sums."""
    total: Counter[str] = Counter()
    histogram: Counter[int] = Counter()
    for g in groups:
        for name in ("due", "answered", "answered_on_time", "answered_late", "overdue_open", "open_not_due",
                     "cancelled"):
            total[name] += getattr(g, name)
        for value, count in g.response_histogram:
            histogram[value] += count
    return Timeliness(**total, response_histogram=tuple(sorted(histogram.items())))
