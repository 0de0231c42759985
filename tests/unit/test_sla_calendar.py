"""Working days follow the official Chinese calendar, make-up weekends and local holidays included."""

import json
from datetime import date, timedelta

import holidays
import pytest

from exchange.domain.calendar import (
    CalendarBook,
    DayKind,
    Override,
    RegionCalendar,
    load_overrides,
    national_published_years,
)

HAISHU = "330203"  # 海曙区, Ningbo, Zhejiang
GERZE = "542526"  # 改则县, Ngari, Tibet
CHENGGUAN_LHASA = "540102"  # 城关区, Lhasa, Tibet
DUILONGDEQING = "540103"  # 堆龙德庆区, Lhasa, Tibet


@pytest.fixture(scope="module")
def book() -> CalendarBook:
    return CalendarBook.default()


@pytest.fixture(scope="module")
def national(book) -> RegionCalendar:
    return book.national()


def test_the_eve_of_national_day_2025_is_followed_by_eight_days_off_and_a_make_up_saturday(national):
    # 2025 notice: 1-8 Oct off; Sun 28 Sep and Sat 11 Oct are working days.
    assert national.is_working_day(date(2025, 9, 28))  # make-up Sunday
    assert not any(national.is_working_day(date(2025, 10, d)) for d in range(1, 9))
    assert national.is_working_day(date(2025, 10, 11))  # make-up Saturday
    assert not national.is_working_day(date(2025, 10, 12))
    # Oct 9 (1), 10 (2), Sat 11 (3), 13 (4), 14 (5)
    assert national.nth_working_day_after(date(2025, 9, 30), 5) == (date(2025, 10, 14), False)


def test_the_spring_festival_week_of_2026_with_both_make_up_saturdays(national):
    # 2026 notice: 15-23 Feb off; Sat 14 Feb and Sat 28 Feb are working days.
    assert national.is_working_day(date(2026, 2, 14))
    assert not any(national.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert national.is_working_day(date(2026, 2, 28))
    # Received Fri 13 Feb: Sat 14 (1), 24 (2), 25 (3), 26 (4), Fri 27 (5)
    assert national.nth_working_day_after(date(2026, 2, 13), 5).day == date(2026, 2, 27)


def test_a_holiday_on_a_weekday_is_not_a_working_day_and_a_plain_weekend_is_not_either(national):
    assert not national.is_working_day(date(2025, 5, 5))  # Monday, Labour Day holiday (调休)
    assert not national.is_working_day(date(2025, 11, 15))  # ordinary Saturday
    assert national.is_working_day(date(2025, 11, 14))  # ordinary Friday


def test_receipt_day_never_counts_even_when_it_is_a_holiday(national):
    assert national.nth_working_day_after(date(2025, 10, 3), 1).day == date(2025, 10, 9)
    assert national.nth_working_day_after(date(2025, 10, 3), 5).day == date(2025, 10, 14)


def test_working_days_between_excludes_the_start_and_includes_the_end(national):
    assert national.working_days_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert national.working_days_between(date(2025, 10, 14), date(2025, 10, 14)) == 0
    assert national.working_days_between(date(2025, 10, 14), date(2025, 9, 30)) == 0
    assert national.working_days_between(date(2024, 12, 31), date(2025, 12, 31)) == 248  # the 2025 working year


def test_the_calendar_agrees_with_the_holidays_package_day_by_day_across_years(national):
    package = holidays.country_holidays("CN", years=range(2023, 2028))
    start = date(2023, 12, 20)
    for offset in range(0, 800, 37):
        a = start + timedelta(days=offset)
        for n in (1, 5, 17):
            assert national.nth_working_day_after(a, n).day == package.get_nth_working_day(a, n)
        b = a + timedelta(days=offset % 90 + 1)
        assert national.working_days_between(a, b) == package.get_working_days_count(a + timedelta(days=1), b)


def test_tibetan_new_year_makes_a_tibet_county_due_later_than_a_zhejiang_county(book):
    # Tibet 2025: 27 Feb - 4 Mar off (4 working days off), no make-up day.
    received = date(2025, 2, 26)
    assert book.calendar_for(HAISHU).nth_working_day_after(received, 5).day == date(2025, 3, 5)
    assert book.calendar_for(GERZE).nth_working_day_after(received, 5).day == date(2025, 3, 11)


def test_lhasa_has_a_longer_spring_festival_in_2026_than_the_rest_of_the_country(book):
    received = date(2026, 2, 13)
    # Lhasa 15-26 Feb off, Sat 14 and Sat 28 working: 14 (1), 27 (2), Sat 28 (3), Mar 2 (4), Mar 3 (5)
    assert book.calendar_for(CHENGGUAN_LHASA).nth_working_day_after(received, 5).day == date(2026, 3, 3)
    assert book.calendar_for(GERZE).nth_working_day_after(received, 5).day == date(2026, 2, 27)


def test_the_most_specific_override_wins_when_a_date_is_listed_twice():
    book = CalendarBook()
    day = date(2025, 6, 10)  # a Tuesday
    book.add_override("540000", day, DayKind.HOLIDAY, "regional day off")
    book.add_override(CHENGGUAN_LHASA, day, DayKind.WORKING, "county keeps working")
    assert book.calendar_for(CHENGGUAN_LHASA).is_working_day(day)
    assert not book.calendar_for(DUILONGDEQING).is_working_day(day)
    assert book.calendar_for(HAISHU).is_working_day(day)


def test_each_calendar_id_records_the_overrides_it_is_made_of_and_changes_with_them():
    book = CalendarBook()
    assert book.calendar_for(GERZE).id == "CN@0"
    book.add_override("54", date(2025, 6, 10), "holiday")
    before = book.calendar_for(GERZE)
    assert before.id == "CN+54@1"
    assert book.calendar_for(HAISHU).id == "CN@0"
    book.add_override("54", date(2025, 6, 10), "holiday")  # the same entry again: nothing changes
    assert book.calendar_for(GERZE).id == "CN+54@1"
    book.add_override("5425", date(2025, 6, 11), "holiday")
    after = book.calendar_for(GERZE)
    assert after.id == "CN+54+5425@2"
    # a calendar already handed out never changes under an obligation
    assert before.is_working_day(date(2025, 6, 11)) and not after.is_working_day(date(2025, 6, 11))
    assert book.remove_override("5425", date(2025, 6, 11))
    assert book.calendar_for(GERZE).id == "CN+54+5425@3"


def test_published_years_are_those_with_a_state_council_schedule_in_the_package(national):
    years = national_published_years()
    assert min(years) == 2001 and {2024, 2025, 2026} <= years
    assert years == national.published_years
    for year in (min(years), max(years)):
        package = holidays.country_holidays("CN", years=(year, year + 1))
        assert any(d.year == year for d in package.weekend_workdays), "published years carry make-up working days"


def test_a_computation_reaching_into_an_unpublished_year_is_provisional(national):
    far = max(national_published_years()) + 5
    assert national.nth_working_day_after(date(far, 3, 3), 5).provisional
    assert national.provisional_between(date(2025, 6, 1), date(far, 1, 5))
    assert not national.provisional_between(date(2025, 6, 1), date(2025, 6, 30))


def test_late_december_waits_for_the_next_years_notice(national):
    # The next year's notice has moved late-December days before (29 Dec 2001, 29 and 31 Dec 2007).
    last = max(national_published_years())
    assert national.is_settled(date(last, 12, 24))
    assert national.is_settled(date(last - 1, 12, 28))
    assert not national.is_settled(date(last, 12, 28))
    assert national.nth_working_day_after(date(last, 12, 18), 5).provisional


def test_publishing_a_year_through_national_overrides_settles_it():
    book = CalendarBook()
    far = max(national_published_years()) + 5
    assert not book.calendar_for(HAISHU).is_settled(date(far, 3, 3))
    book.add_override("CN", date(far, 3, 5), DayKind.HOLIDAY, "test schedule, not a real notice")
    book.publish_year(far)
    cal = book.calendar_for(HAISHU)
    assert cal.id == "CN@2"
    assert far in book.published_years and cal.is_settled(date(far, 3, 3))
    assert not cal.is_working_day(date(far, 3, 5))


def test_overrides_load_from_json_and_csv(tmp_path):
    as_json = tmp_path / "o.json"
    as_json.write_text(json.dumps({
        "published_years": [2031],
        "overrides": [
            {"region": "CN", "date": "2031-01-02", "kind": "holiday"},
            {"region": "540000", "date": "2031-02-01", "until": "2031-02-03", "kind": "holiday", "name": "x"},
        ],
    }), encoding="utf-8")
    loaded = load_overrides(as_json)
    assert loaded.published_years == {2031}
    assert [(o.region, o.day) for o in loaded.overrides] == [
        ("", date(2031, 1, 2)), ("54", date(2031, 2, 1)), ("54", date(2031, 2, 2)), ("54", date(2031, 2, 3))]

    as_csv = tmp_path / "o.csv"
    as_csv.write_text(
        "# Lhasa test entries\nregion,date,until,kind,name,source\n"
        "540100,2031-02-14,,working,调休上班,test\n542526,2031-03-01,2031-03-02,holiday,,\n",
        encoding="utf-8",
    )
    entries = load_overrides(as_csv).overrides
    assert entries[0] == Override("5401", date(2031, 2, 14), DayKind.WORKING, "调休上班", "test")
    assert [o.day for o in entries[1:]] == [date(2031, 3, 1), date(2031, 3, 2)]

    book = CalendarBook(loaded)
    assert 2031 in book.published_years and not book.calendar_for(HAISHU).is_working_day(date(2031, 1, 2))


def test_bad_override_entries_are_refused(tmp_path):
    with pytest.raises(ValueError):
        Override("5", date(2025, 1, 1), DayKind.HOLIDAY)
    with pytest.raises(ValueError):
        Override("54", date(2025, 1, 1), "sometimes")
    bad = tmp_path / "bad.csv"
    bad.write_text("region,day,kind\n54,2025-01-01,holiday\n", encoding="utf-8")
    with pytest.raises(ValueError, match="date"):
        load_overrides(bad)
