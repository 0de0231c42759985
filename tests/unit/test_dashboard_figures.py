"""The provincial dashboard's own rules: which level a region drills down to, what a monitor sees of a region, and
the months of a trend."""

from datetime import date

import pytest

from exchange.domain.figures import months_between, trend_window
from exchange.domain.region_codes import finer, narrowed


def test_a_province_drills_down_to_its_prefectures_and_a_prefecture_to_its_counties():
    assert [finer(area) for area in ("", "33", "3302", "330203")] == ["province", "prefecture", "county", "county"]


def test_a_provincial_monitor_sees_a_region_of_its_province_and_nothing_of_another():
    zhejiang = frozenset({"33"})
    assert narrowed(zhejiang, "3302") == {"3302"}
    assert narrowed(zhejiang, "330203") == {"330203"}
    assert narrowed(zhejiang, "6212") == set()  # Gansu's prefecture: nothing, not all of Gansu
    assert narrowed(frozenset({"33", "62"}), "") == {"33", "62"}  # the whole country: its own provinces
    assert narrowed(None, "6212") == {"6212"}  # a national monitor sees any region


@pytest.mark.parametrize(("end", "months", "window"), [
    (date(2026, 12, 1), 12, (date(2025, 12, 1), date(2026, 12, 1))),  # November's figures: Dec 2025 – Nov 2026
    (date(2026, 11, 21), 12, (date(2025, 12, 1), date(2026, 12, 1))),  # a period ending within November
    (date(2027, 1, 1), 3, (date(2026, 10, 1), date(2027, 1, 1))),  # across the year's end
    (date(2026, 2, 1), 1, (date(2026, 1, 1), date(2026, 2, 1))),
])
def test_a_trend_covers_whole_months_up_to_the_periods_last_day(end, months, window):
    assert trend_window(end, months) == window


def test_a_trends_axis_names_each_month_of_its_window_as_the_figures_do():
    assert months_between(*trend_window(date(2027, 2, 1), 4)) == ["2026-10", "2026-11", "2026-12", "2027-01"]
    assert months_between(date(2026, 11, 20), date(2026, 12, 2)) == ["2026-11", "2026-12"]
