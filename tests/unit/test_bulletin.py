"""The monthly bulletin's rules (月度通报): which month, how counties are ranked, the change since last month; and
the clarification figures the monitor reports beside the timeliness counts."""

from datetime import date, datetime

import pytest

from exchange.domain.bulletin import CountyMonth, change_points, month_period, on_time_share, ranked, row
from exchange.domain.clock import SHANGHAI as SH
from exchange.domain.figures import Timeliness, TimelinessRow, timeliness
from exchange.domain.problems import Problem

NOVEMBER_20 = datetime(2026, 11, 20, 10, 0, tzinfo=SH)


def county(code: str, on_time: int, due: int, previous: tuple[int, int] = (0, 0)) -> CountyMonth:
    figures = Timeliness(due=due, answered=on_time, answered_on_time=on_time)
    return CountyMonth(code, figures, sent=0, overdue_at_month_end=due - on_time, share=(on_time, due),
                       previous_share=previous)


def test_the_month_and_the_one_before_it_across_a_new_year():
    assert month_period("2026-11", NOVEMBER_20) == (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1))
    january = datetime(2027, 1, 3, tzinfo=SH)
    assert month_period("2027-01", january) == (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1))
    assert month_period("2026-12", january) == (date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1))


def test_a_month_not_begun_has_no_bulletin_in_either_language():
    with pytest.raises(Problem) as refused:
        month_period("2026-12", NOVEMBER_20)
    assert (refused.value.status, refused.value.code) == (422, "month_not_begun")
    assert "2026-12" in refused.value.detail_en and "尚未开始" in refused.value.detail_zh
    # 1 December 00:30 in Shanghai is still 30 November in UTC: the month has begun
    assert month_period("2026-12", datetime(2026, 12, 1, 0, 30, tzinfo=SH))[1] == date(2026, 12, 1)


def test_counties_rank_by_on_time_rate_ties_by_more_received_then_code_and_those_without_a_rate_last():
    months = [
        county("330203", 3, 4),  # 0.75
        county("330212", 1, 2),  # 0.5, ties with the two below
        county("330206", 2, 4),  # 0.5, more received: before 330212
        county("330205", 1, 2),  # 0.5, same received as 330212: the smaller code first
        county("330281", 0, 0),  # only sent: no rate, no rank
        county("330211", 4, 4),  # 1.0
        county("330201", 0, 0),
    ]
    order = [(rank, m.county) for rank, m in ranked(months)]
    assert order == [(1, "330211"), (2, "330203"), (3, "330206"), (4, "330205"), (5, "330212"),
                     (None, "330201"), (None, "330281")]


def test_the_ranking_compares_rates_exactly_not_as_rounded_floats():
    # 1/3 and 2/6 are the same rate: the tie goes to more received, never to float noise
    order = [m.county for _, m in ranked([county("330201", 1, 3), county("330202", 2, 6)])]
    assert order == ["330202", "330201"]


def test_the_change_since_last_month_is_in_percentage_points_from_the_counts():
    assert change_points((3, 5), (2, 5)) == 20.0  # not 19.999999999999996
    assert change_points((1, 2), (2, 3)) == pytest.approx(-16.666666666666668, abs=0)
    assert change_points((2, 4), (1, 2)) == 0.0
    assert change_points((1, 2), (0, 0)) is None  # nothing due last month
    assert change_points((0, 0), (1, 2)) is None


def test_a_row_states_the_rates_and_the_change():
    line = row(2, county("330203", 3, 4, previous=(1, 2)), "海曙区")
    assert line == {"rank": 2, "county": "330203", "name": "海曙区", "received": 4, "sent": 0, "answered": 3,
                    "answered_on_time": 3, "answered_late": 0, "overdue_at_month_end": 1, "withdrawn": 0,
                    "on_time_rate": 0.75, "previous_on_time_rate": 0.5, "change_points": 25.0}


def test_a_running_month_is_rated_on_what_is_due_already():
    running = Timeliness(due=10, answered=4, answered_on_time=3, assessable_answered_on_time=2,
                         assessable_answered_late=1, overdue_open=1)
    assert on_time_share(running, "assessable") == (2, 4)
    assert on_time_share(running, "cohort") == (3, 10)
    assert on_time_share(None, "cohort") == (0, 0)


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_clarified_records_their_rate_and_paused_days_leave_out_the_cancelled():
    due = cst(2026, 11, 12)
    rows = [
        TimelinessRow(due_at=due, answered_at=cst(2026, 11, 10), response_working_days=6, pause_count=1,
                      paused_working_days=3),  # asked on day 3, answered on day 6
        TimelinessRow(due_at=due, pause_count=2, paused_working_days=1),  # clarified twice
        TimelinessRow(due_at=due, pause_count=1),  # asked and answered the same day: no working day paused
        TimelinessRow(due_at=due, paused=True),  # paused now, told by a node that did not count pauses
        TimelinessRow(due_at=due),  # never clarified
        TimelinessRow(due_at=due, cancelled_at=cst(2026, 11, 9), pause_count=1, paused_working_days=4),
    ]
    figures = timeliness(rows, now=cst(2026, 11, 11), start=date(2026, 11, 1), end=date(2026, 12, 1))["all"]
    assert (figures.due, figures.clarified, figures.paused_working_days) == (5, 4, 4)
    answer = figures.to_dict()
    assert (answer["clarification_rate"], answer["mean_paused_working_days"]) == (0.8, 1.0)
    assert Timeliness().to_dict()["clarification_rate"] is None
    assert Timeliness().to_dict()["mean_paused_working_days"] is None
