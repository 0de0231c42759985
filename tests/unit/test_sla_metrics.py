"""Timeliness figures a provincial monitor sees: counts, rates from sums, response-time percentiles."""

from datetime import date, datetime

import pytest

from exchange.domain.agreements import DEFAULT_RESOLUTION
from exchange.domain.calendar import CalendarBook
from exchange.domain.clock import SHANGHAI as SH
from exchange.domain.figures import Timeliness, TimelinessRow, combine, headline, nearest_rank, period_ended, timeliness
from exchange.domain.obligation import answer, cancel, open_obligation

OCTOBER = {"start": date(2025, 10, 1), "end": date(2025, 11, 1)}


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def row(due: datetime, answered: datetime | None = None, rwd: int | None = None, *, receiver: str = "330203",
        cancelled: datetime | None = None, paused: bool = False) -> TimelinessRow:
    return TimelinessRow(due_at=due, answered_at=answered, response_working_days=rwd, cancelled_at=cancelled,
                         paused=paused, receiver=receiver)


HAISHU_OCTOBER = [
    row(cst(2025, 10, 15), cst(2025, 10, 13, 10), 3),  # on time
    row(cst(2025, 10, 15), cst(2025, 10, 16, 10), 6),  # late
    row(cst(2025, 10, 22)),  # unanswered
    row(cst(2025, 11, 1), cst(2025, 10, 31, 23), 5),  # due 24:00 on 31 Oct: an October deadline, on time
    row(cst(2025, 11, 1)),  # unanswered, due 24:00 on 31 Oct
    row(cst(2025, 10, 25), paused=True),  # waiting for the sender's clarification
    row(cst(2025, 10, 20), cancelled=cst(2025, 10, 14, 9)),  # withdrawn
    row(cst(2025, 11, 8)),  # due in November: not in the cohort
    row(cst(2025, 10, 1), cst(2025, 9, 29, 9), 1),  # due 24:00 on 30 Sep: not in the cohort
]


def test_counts_and_rates_for_one_county_in_october():
    figures = timeliness(HAISHU_OCTOBER, now=cst(2025, 11, 5, 12), **OCTOBER)["all"]
    assert figures == Timeliness(due=6, answered=3, answered_on_time=2, answered_late=1, overdue_open=2,
                                 open_not_due=1, cancelled=1, response_histogram=((3, 1), (5, 1), (6, 1)),
                                 assessable_answered_on_time=2, assessable_answered_late=1, clarified=1)
    assert figures.feedback_rate == pytest.approx(3 / 6)
    assert figures.on_time_rate == pytest.approx(2 / 6)
    assert figures.median_response_working_days == 5
    assert figures.p90_response_working_days == 6


def test_open_and_overdue_depend_on_now():
    figures = timeliness(HAISHU_OCTOBER, now=cst(2025, 10, 20, 12), **OCTOBER)["all"]
    # on 20 Oct the deadlines of 22 Oct, 25 Oct and 31 Oct have not passed yet
    assert (figures.overdue_open, figures.open_not_due) == (0, 3)
    assert figures.due == 6


def test_cancelled_obligations_leave_every_denominator():
    rows = [row(cst(2025, 10, 15), cst(2025, 10, 13), 2), row(cst(2025, 10, 15), cancelled=cst(2025, 10, 10))]
    figures = timeliness(rows, now=cst(2025, 11, 5), **OCTOBER)["all"]
    assert (figures.due, figures.cancelled, figures.on_time_rate, figures.feedback_rate) == (1, 1, 1.0, 1.0)


def test_rates_are_none_when_nothing_was_due():
    only_cancelled = [row(cst(2025, 10, 15), cancelled=cst(2025, 10, 10))]
    figures = timeliness(only_cancelled, now=cst(2025, 11, 5), **OCTOBER)["all"]
    assert figures.due == 0 and figures.feedback_rate is None and figures.on_time_rate is None
    assert figures.median_response_working_days is None
    assert timeliness([], now=cst(2025, 11, 5), **OCTOBER) == {}


def test_a_province_roll_up_is_the_ratio_of_sums_not_the_average_of_county_rates():
    busy = [row(cst(2025, 10, 15), cst(2025, 10, 14), 4, receiver="330203") for _ in range(9)]
    busy.append(row(cst(2025, 10, 15), receiver="330203"))
    quiet = [row(cst(2025, 10, 15), receiver="330382"), row(cst(2025, 10, 16), receiver="330382")]
    counties = timeliness(busy + quiet, now=cst(2025, 11, 5), key=lambda r: r.receiver, **OCTOBER)
    assert counties["330203"].on_time_rate == pytest.approx(0.9)
    assert counties["330382"].on_time_rate == 0.0
    zhejiang = combine(counties.values())
    assert zhejiang.on_time_rate == pytest.approx(9 / 12)  # 0.75, where averaging the rates would give 0.45
    assert (zhejiang.due, zhejiang.answered_on_time, zhejiang.overdue_open) == (12, 9, 3)
    by_province = timeliness(busy + quiet, now=cst(2025, 11, 5), key=lambda r: r.receiver[:2], **OCTOBER)
    assert by_province["33"] == zhejiang


def test_response_time_percentiles_use_the_nearest_rank():
    assert nearest_rank([(v, 1) for v in (1, 2, 3, 4)], 50) == 2  # the lower middle of an even count
    assert nearest_rank([(v, 1) for v in (1, 2, 3, 4)], 90) == 4
    assert nearest_rank([(0, 1), (1, 2), (2, 1), (3, 1), (5, 1), (8, 1)], 50) == 2
    assert nearest_rank([(0, 1), (1, 2), (2, 1), (3, 1), (5, 1), (8, 1)], 90) == 8
    assert nearest_rank([], 50) is None
    a = Timeliness(due=3, answered=3, answered_on_time=3, response_histogram=((1, 2), (2, 1)))
    b = Timeliness(due=2, answered=2, answered_late=2, response_histogram=((5, 1), (8, 1)))
    both = combine([a, b])
    assert both.response_histogram == ((1, 2), (2, 1), (5, 1), (8, 1))
    assert (both.median_response_working_days, both.p90_response_working_days) == (2, 8)


def test_obligations_themselves_can_be_counted_grouped_by_receiving_province():
    calendars = CalendarBook.default()
    obligations = []
    for i, receiver in enumerate(["330203", "330203", "542526"]):
        ob = open_obligation(message_id=f"m{i}", message_type="birth", sender="621227", receiver=receiver,
                             received_at=cst(2025, 9, 30, 16), resolution=DEFAULT_RESOLUTION,
                             calendar=calendars.calendar_for(receiver))
        obligations.append(ob)
    cal = calendars.calendar_for("330203")
    obligations[0] = answer(obligations[0], cst(2025, 10, 9, 10), "fb-0", cal)  # 1 working day
    obligations[1] = cancel(obligations[1], cst(2025, 10, 9, 10))  # withdrawn by its sender (the default reason)
    figures = timeliness(obligations, now=cst(2025, 10, 20), key=lambda ob: ob.receiver[:2], **OCTOBER)
    assert figures["33"] == Timeliness(due=1, answered=1, answered_on_time=1, cancelled=1, withdrawn=1,
                                       response_histogram=((1, 1),), assessable_answered_on_time=1)
    assert figures["54"].overdue_open == 1
    assert figures["33"].to_dict()["on_time_rate"] == 1.0


# October still running, as of Monday 20 October 2025 12:00. By hand:
#   deadline passed (assessable): 15 Oct on time, 15 Oct late, 17 Oct unanswered (overdue)   -> 3, 1 on time
#   deadline ahead (not yet due): 22 Oct answered early, 25 Oct open, 31 Oct open, and the one
#   paused since 16 Oct (its deadline of 18 Oct passed, but its clock stands)                  -> 4, 1 answered
#   cancelled: 1, counted nowhere.
OCTOBER_SO_FAR = [
    row(cst(2025, 10, 15), cst(2025, 10, 14, 10), 3),
    row(cst(2025, 10, 15), cst(2025, 10, 16, 10), 5),
    row(cst(2025, 10, 17)),
    row(cst(2025, 10, 22), cst(2025, 10, 20, 9), 2),
    row(cst(2025, 10, 25)),
    row(cst(2025, 11, 1)),
    row(cst(2025, 10, 18), paused=True),
    row(cst(2025, 10, 20), cancelled=cst(2025, 10, 14, 9)),
]


def test_a_running_period_is_headed_by_the_obligations_already_due():
    now = cst(2025, 10, 20, 12)
    figures = timeliness(OCTOBER_SO_FAR, now=now, **OCTOBER)["all"]
    assert not period_ended(OCTOBER["end"], now) and headline(OCTOBER["end"], now) == "assessable"
    answer = figures.to_dict(headline(OCTOBER["end"], now))
    # the full cohort, as before: 7 due, 3 answered (2 on time), 1 overdue, 3 open
    assert {k: answer[k] for k in ("due", "answered", "answered_on_time", "overdue_open", "open_not_due")} \
        == {"due": 7, "answered": 3, "answered_on_time": 2, "overdue_open": 1, "open_not_due": 3}
    assert answer["feedback_rate"] == pytest.approx(3 / 7) and answer["on_time_rate"] == pytest.approx(2 / 7)
    # beside it, what can be judged already: 3 due so far, 2 answered (1 on time, 1 late), 1 overdue
    assert {k: v for k, v in answer.items() if k.startswith(("assessable", "not_yet", "headline"))} == {
        "assessable_due": 3, "assessable_answered": 2, "assessable_answered_on_time": 1,
        "assessable_answered_late": 1, "assessable_feedback_rate": 2 / 3, "assessable_on_time_rate": 1 / 3,
        "not_yet_due": 4, "not_yet_due_answered": 1,
        "headline_feedback_rate": 2 / 3, "headline_on_time_rate": 1 / 3,
    }


def test_a_closed_period_keeps_the_full_cohort_as_its_headline():
    now = cst(2025, 11, 1, 0, 0, 1)  # a second after the last October deadline (24:00 on 31 October)
    assert period_ended(OCTOBER["end"], now) and not period_ended(OCTOBER["end"], cst(2025, 11, 1))
    answer = timeliness(OCTOBER_SO_FAR, now=now, **OCTOBER)["all"].to_dict(headline(OCTOBER["end"], now))
    # every deadline has passed: only the paused obligation is not assessable; 25 Oct and 31 Oct are overdue
    assert (answer["due"], answer["answered"], answer["overdue_open"]) == (7, 3, 3)
    assert (answer["assessable_due"], answer["assessable_answered"], answer["not_yet_due"]) == (6, 3, 1)
    assert (answer["headline_feedback_rate"], answer["headline_on_time_rate"]) == (3 / 7, 2 / 7)


def test_assessable_counts_add_up_in_a_roll_up():
    now = cst(2025, 10, 20, 12)
    counties = timeliness(OCTOBER_SO_FAR + [row(cst(2025, 10, 10), cst(2025, 10, 9), 1, receiver="330212")],
                          now=now, key=lambda r: r.receiver, **OCTOBER)
    total = combine(counties.values()).to_dict("assessable")
    assert (total["assessable_due"], total["assessable_answered_on_time"], total["headline_on_time_rate"]) \
        == (4, 2, 2 / 4)
