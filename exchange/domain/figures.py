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

Clarification (请求补充说明), of the ``due`` ones (cancelled ones count nowhere): ``clarified`` = those whose
clock was paused at least once (``clarified``), clarification rate = clarified / due; ``paused_working_days``
= their working days paused, summed, and its mean per clarified record = paused_working_days / clarified.

Assessable (可考核) figures, for a period still running: the obligations whose
deadline has passed at ``now`` (not cancelled, not paused), whose outcome is
settled. ``assessable_due`` = assessable_answered + overdue_open, and the
assessable rates divide by it. The rest, ``not_yet_due`` = due -
assessable_due, are shown apart (``not_yet_due_answered`` of them answered
already, before their deadline). Counting those in the denominator makes "this
month so far" read a feedback rate near zero while every obligation due so far
was answered; so the assessable rates are the headline of a period that has not
ended, and the full-cohort rates that of a closed one (``headline``).

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
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from exchange.domain.obligation import Status, day_of_deadline, start_of_day, status

#: Which rates head an answer: the full cohort's (a closed period) or the assessable ones (a running period).
Basis = Literal["cohort", "assessable"]

#: The definitions an answer states beside its figures.
DEFINITIONS = {
    "cohort": "full cohort: every obligation of the period not cancelled (due); feedback_rate = answered / due, "
              "on_time_rate = answered_on_time / due",
    "assessable": "assessable (可考核): obligations of the period whose deadline has passed as of as_of (not "
                  "cancelled, not paused); assessable_feedback_rate = assessable_answered / assessable_due, "
                  "assessable_on_time_rate = assessable_answered_on_time / assessable_due",
    "not_yet_due": "not yet due (未到截止期): deadline still ahead as of as_of, or paused for clarification; "
                   "not_yet_due = due - assessable_due, not_yet_due_answered of them answered already",
    "headline": "headline_feedback_rate and headline_on_time_rate are the assessable rates while the period has "
                "not ended (a deadline still ahead as of as_of), the full cohort's once it has",
    "withdrawn": "withdrawn (已撤回): cancelled obligations whose record its sender withdrew (撤回); counted within "
                 "cancelled, in no denominator",
    "clarified": "clarified (请求过补充说明): due obligations whose clock was paused for clarification at least once; "
                 "clarification_rate = clarified / due; paused_working_days: their working days paused, summed "
                 "(a pause still running counts from its end); mean_paused_working_days = paused_working_days / "
                 "clarified",
}


class TimelinessFacts(Protocol):
    """The fields metrics read: an ``Obligation`` has them, so can a light row from storage."""

    due_at: datetime
    answered_at: datetime | None
    cancelled_at: datetime | None
    response_working_days: int | None

    @property
    def paused(self) -> bool: ...

    @property
    def paused_working_days(self) -> int: ...

    @property
    def pause_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TimelinessRow:
    """A light row with just what metrics need (e.g. selected from storage)."""

    due_at: datetime
    answered_at: datetime | None = None
    cancelled_at: datetime | None = None
    response_working_days: int | None = None
    paused: bool = False
    cancel_reason: str | None = None
    paused_working_days: int = 0
    pause_count: int = 0
    receiver: str = ""
    sender: str = ""
    message_type: str = ""


def clarified(row: TimelinessFacts) -> bool:
    """Its clock was paused for clarification at least once: a pause counted, or (told by a node that did not
    count them yet) paused now or working days paused."""
    return row.pause_count > 0 or row.paused or row.paused_working_days > 0


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
    withdrawn: int = 0  # of the cancelled: withdrawn by their sender (撤回)
    response_histogram: tuple[tuple[int, int], ...] = ()  # (working days, count), sorted
    assessable_answered_on_time: int = 0  # answered on time, deadline passed as of now
    assessable_answered_late: int = 0  # answered late (so the deadline has passed)
    clarified: int = 0  # of the due: paused for clarification at least once
    paused_working_days: int = 0  # of the due: working days paused, summed

    @property
    def clarification_rate(self) -> float | None:
        return self.clarified / self.due if self.due else None

    @property
    def mean_paused_working_days(self) -> float | None:
        return self.paused_working_days / self.clarified if self.clarified else None

    @property
    def assessable_answered(self) -> int:
        return self.assessable_answered_on_time + self.assessable_answered_late

    @property
    def assessable_due(self) -> int:
        return self.assessable_answered + self.overdue_open

    @property
    def assessable_feedback_rate(self) -> float | None:
        return self.assessable_answered / self.assessable_due if self.assessable_due else None

    @property
    def assessable_on_time_rate(self) -> float | None:
        return self.assessable_answered_on_time / self.assessable_due if self.assessable_due else None

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

    def to_dict(self, basis: Basis = "cohort") -> dict[str, Any]:
        """The figures as a monitor answers them; `basis` picks the rates that head them (see ``headline``)."""
        assessable = basis == "assessable"
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
            "assessable_due": self.assessable_due,
            "assessable_answered": self.assessable_answered,
            "assessable_answered_on_time": self.assessable_answered_on_time,
            "assessable_answered_late": self.assessable_answered_late,
            "assessable_feedback_rate": self.assessable_feedback_rate,
            "assessable_on_time_rate": self.assessable_on_time_rate,
            "not_yet_due": self.due - self.assessable_due,
            "not_yet_due_answered": self.answered - self.assessable_answered,
            "headline_feedback_rate": self.assessable_feedback_rate if assessable else self.feedback_rate,
            "headline_on_time_rate": self.assessable_on_time_rate if assessable else self.on_time_rate,
            "withdrawn": self.withdrawn,
            "clarified": self.clarified,
            "clarification_rate": self.clarification_rate,
            "paused_working_days": self.paused_working_days,
            "mean_paused_working_days": self.mean_paused_working_days,
        }


def period_ended(end: date, now: datetime) -> bool:
    """Every deadline of the period [start, end) has passed: the last one is 24:00 of the day before `end`."""
    return now > start_of_day(end)


def headline(end: date, now: datetime) -> Basis:
    return "cohort" if period_ended(end, now) else "assessable"


def period_fields(end: date, now: datetime) -> dict[str, Any]:
    """What a receiver-side answer says about its period: ended or not, which rates head it, the definitions."""
    return {"period_ended": period_ended(end, now), "headline": headline(end, now), "definitions": DEFINITIONS}


def trend_window(end: date, months: int = 12) -> tuple[date, date]:
    """[from, to) of the `months` whole months that end with the month of a period's last day (the day before
    `end`): the cohort of a trend by month (group_by=month) beside the figures of [start, end)."""
    last = end - timedelta(days=1)
    index = last.year * 12 + last.month - 1  # months since year 0, the last one's
    first = index - months + 1
    return date(first // 12, first % 12 + 1, 1), date((index + 1) // 12, (index + 1) % 12 + 1, 1)


def months_between(start: date, end: date) -> list[str]:
    """The months ("YYYY-MM", as group_by=month names them) of the days in [start, end)."""
    out: list[str] = []
    day = start.replace(day=1)
    while day < end:
        out.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    return out


class _Tally:
    __slots__ = ("assessed", "clarified", "counts", "histogram", "paused_days", "withdrawn")

    def __init__(self) -> None:
        self.counts: Counter[Status] = Counter()
        self.assessed: Counter[Status] = Counter()  # the answered ones whose deadline has passed
        self.histogram: Counter[int] = Counter()
        self.withdrawn = 0  # of the cancelled: withdrawn by their sender
        self.clarified = 0  # of the others: paused for clarification at least once
        self.paused_days = 0

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
            withdrawn=self.withdrawn,
            response_histogram=tuple(sorted(self.histogram.items())),
            assessable_answered_on_time=self.assessed[Status.ANSWERED_ON_TIME],
            assessable_answered_late=self.assessed[Status.ANSWERED_LATE],
            clarified=self.clarified,
            paused_working_days=self.paused_days,
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
        if st is Status.CANCELLED and getattr(row, "cancel_reason", None) == "withdrawn":
            tally.withdrawn += 1
        if st is not Status.CANCELLED and clarified(row):
            tally.clarified += 1
            tally.paused_days += row.paused_working_days
        answered = st in (Status.ANSWERED_ON_TIME, Status.ANSWERED_LATE)
        if answered and row.response_working_days is not None:
            tally.histogram[row.response_working_days] += 1
        if answered and now > row.due_at:  # as overdue is decided: the deadline has passed
            tally.assessed[st] += 1
    return {k: t.freeze() for k, t in tallies.items()}


def combine(groups: Iterable[Timeliness]) -> Timeliness:
    """Roll several groups up into one: counts and histograms add; rates come from the sums."""
    total: Counter[str] = Counter()
    histogram: Counter[int] = Counter()
    for g in groups:
        for name in ("due", "answered", "answered_on_time", "answered_late", "overdue_open", "open_not_due",
                     "cancelled", "withdrawn", "assessable_answered_on_time", "assessable_answered_late",
                     "clarified", "paused_working_days"):
            total[name] += getattr(g, name)
        for value, count in g.response_histogram:
            histogram[value] += count
    return Timeliness(**total, response_histogram=tuple(sorted(histogram.items())))
