"""Cooperation agreements set the deadlines; the most specific one in force at receipt wins."""

import json
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from contracts.message_types import RECORD_TYPES
from exchange.domain.agreements import (
    DEFAULT_RESOLUTION,
    OBLIGATION_TYPES,
    Agreement,
    AgreementBook,
    AgreementError,
    Deadline,
    DeadlineUnit,
    Resolution,
    load_agreements,
)
from exchange.domain.calendar import CalendarBook
from exchange.domain.clock import SHANGHAI as SH
from exchange.domain.obligation import open_obligation

FENG_XIAN = "320321"  # 丰县, Xuzhou, Jiangsu
XUANWU = "320102"  # 玄武区, Nanjing, Jiangsu
LANSHAN = "371302"  # 兰山区, Linyi, Shandong
YINGQUAN = "341202"  # 颍泉区, Fuyang, Anhui
HAISHU = "330203"  # 海曙区, Ningbo, Zhejiang


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


BORDER = Agreement(
    id="su-lu-yu-wan",
    version=1,
    name="苏鲁豫皖交界地区流动人口计划生育协作",
    parties=("320000", "370000", "410000", "340000"),
    effective_from=date(2025, 1, 1),
    feedback_deadlines={"birth": Deadline(3), "pregnancy_check": Deadline(4)},
    sender_deadlines={"birth": Deadline(3)},
)
XUZHOU_LINYI = Agreement(
    id="xuzhou-linyi",
    version=1,
    name="徐州—临沂流动人口信息通报",
    parties=("320300", "371300"),
    effective_from=date(2025, 3, 1),
    feedback_deadlines={"birth": Deadline(2)},
)


@pytest.fixture
def book() -> AgreementBook:
    return AgreementBook([BORDER])


def test_obligation_types_are_the_record_types_of_the_contracts():
    assert OBLIGATION_TYPES == {str(t) for t in RECORD_TYPES}


def test_the_border_area_agreement_sets_three_working_days_for_births_between_its_provinces(book):
    at = cst(2025, 6, 2, 10)
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", at) == Resolution("su-lu-yu-wan", 1, Deadline(3))
    assert book.resolve(LANSHAN, FENG_XIAN, "birth", at).agreement_id == "su-lu-yu-wan"  # either direction
    assert book.resolve(YINGQUAN, FENG_XIAN, "pregnancy_check", at).deadline == Deadline(4)


def test_a_pair_the_agreement_does_not_cover_gets_the_default_five_working_days(book):
    at = cst(2025, 6, 2, 10)
    assert book.resolve(FENG_XIAN, HAISHU, "birth", at) == DEFAULT_RESOLUTION
    assert DEFAULT_RESOLUTION == Resolution("default", 1, Deadline(5, DeadlineUnit.WORKING))
    # two counties of the same party are not an inter-region pair
    assert book.resolve(FENG_XIAN, XUANWU, "birth", at) == DEFAULT_RESOLUTION
    # a type the agreement sets no deadline for
    assert book.resolve(FENG_XIAN, LANSHAN, "outflow_registration", at) == DEFAULT_RESOLUTION


def test_a_prefecture_level_agreement_beats_a_province_level_one(book):
    book.add(XUZHOU_LINYI)
    at = cst(2025, 6, 2, 10)
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", at) == Resolution("xuzhou-linyi", 1, Deadline(2))
    # it says nothing about pregnancy checks, so the border agreement still applies to them
    assert book.resolve(FENG_XIAN, LANSHAN, "pregnancy_check", at).agreement_id == "su-lu-yu-wan"
    # and Fuyang is not in it
    assert book.resolve(FENG_XIAN, YINGQUAN, "birth", at).agreement_id == "su-lu-yu-wan"
    assert XUZHOU_LINYI.specificity(FENG_XIAN, LANSHAN) == 4 and BORDER.specificity(FENG_XIAN, LANSHAN) == 2


def test_an_agreement_not_yet_in_force_at_receipt_is_not_used(book):
    book.add(Agreement(id="xuzhou-linyi", version=1, name="", parties=("320300", "371300"),
                       effective_from=date(2025, 12, 1), feedback_deadlines={"birth": 2}))
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", cst(2025, 11, 30, 23, 30)).agreement_id == "su-lu-yu-wan"
    # 16:30 UTC on 30 Nov is 00:30 on 1 Dec in China: in force
    at = datetime(2025, 11, 30, 16, 30, tzinfo=timezone.utc)
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", at).agreement_id == "xuzhou-linyi"


def test_an_agreement_that_ended_is_not_used():
    ended = Agreement(id="old", version=1, name="", parties=("32", "37"), effective_from=date(2020, 1, 1),
                      effective_to=date(2024, 12, 31), feedback_deadlines={"birth": 2})
    book = AgreementBook([ended])
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", cst(2024, 12, 31, 23)).agreement_id == "old"
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", cst(2025, 1, 1, 0)) == DEFAULT_RESOLUTION


def test_a_new_version_does_not_change_an_obligation_opened_under_the_old_one(book):
    calendars = CalendarBook()
    received = cst(2025, 6, 2, 10)
    resolution = book.resolve(FENG_XIAN, LANSHAN, "birth", received)
    ob = open_obligation(message_id="m1", message_type="birth", sender=FENG_XIAN, receiver=LANSHAN,
                         received_at=received, resolution=resolution, calendar=calendars.calendar_for(LANSHAN))
    v2 = replace(BORDER, version=2, effective_from=date(2025, 7, 1), feedback_deadlines={"birth": Deadline(4)})
    assert book.add(v2)
    assert (ob.agreement_id, ob.agreement_version, ob.deadline) == ("su-lu-yu-wan", 1, Deadline(3))
    assert ob.due_at == cst(2025, 6, 6)  # Jun 3, 4, 5 -> 24:00 on Thu 5 Jun
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", received).version == 1
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", cst(2025, 7, 2, 9)) == Resolution("su-lu-yu-wan", 2, Deadline(4))


def test_versions_are_immutable_and_replays_are_harmless(book):
    assert not book.add(BORDER)  # the same version again (e.g. replayed from Kafka)
    changed = replace(BORDER, feedback_deadlines={"birth": Deadline(1)})
    with pytest.raises(AgreementError, match="already exists"):
        book.add(changed)


def test_equal_specificity_goes_to_the_later_agreement_then_the_smaller_id():
    a = Agreement(id="b-later", version=1, name="", parties=("32", "37"), effective_from=date(2025, 2, 1),
                  feedback_deadlines={"birth": 2})
    b = Agreement(id="a-earlier", version=1, name="", parties=("32", "37"), effective_from=date(2025, 1, 1),
                  feedback_deadlines={"birth": 4})
    c = Agreement(id="c-later", version=1, name="", parties=("32", "37"), effective_from=date(2025, 2, 1),
                  feedback_deadlines={"birth": 6})
    assert AgreementBook([a, b, c]).resolve(FENG_XIAN, LANSHAN, "birth", cst(2025, 3, 1)).agreement_id == "b-later"


def test_a_single_party_agreement_covers_its_own_counties_only_when_it_says_so():
    jiangsu = Agreement(id="jiangsu-internal", version=1, name="", parties=("320000",),
                        effective_from=date(2025, 1, 1), feedback_deadlines={"birth": 3}, covers_within_party=True)
    book = AgreementBook([jiangsu])
    assert book.resolve(FENG_XIAN, XUANWU, "birth", cst(2025, 3, 1)).agreement_id == "jiangsu-internal"
    assert book.resolve(FENG_XIAN, LANSHAN, "birth", cst(2025, 3, 1)) == DEFAULT_RESOLUTION


def test_sender_deadlines_resolve_separately_and_are_none_without_an_agreement(book):
    assert book.resolve_sender(FENG_XIAN, LANSHAN, "birth", date(2025, 6, 1)) == Resolution(
        "su-lu-yu-wan", 1, Deadline(3))
    assert book.resolve_sender(FENG_XIAN, HAISHU, "birth", date(2025, 6, 1)) is None
    assert book.resolve_sender(FENG_XIAN, LANSHAN, "pregnancy_check", date(2025, 6, 1)) is None


def test_agreements_round_trip_through_dicts_and_load_from_json(tmp_path):
    data = BORDER.to_dict()
    assert data["feedback_deadlines"]["birth"] == {"days": 3, "unit": "working"}
    assert Agreement.from_dict(data) == BORDER
    path = tmp_path / "agreements.json"
    path.write_text(json.dumps({"agreements": [data, XUZHOU_LINYI.to_dict(), {
        "id": "nw", "version": 1, "name": "西北协作", "parties": ["610000", "620000", "630000", "640000", "650000"],
        "effective_from": "2025-01-01", "feedback_deadlines": {"outflow_registration": {"days": 10, "unit": "calendar"},
                                                               "birth": 3}}]}), encoding="utf-8")
    loaded = load_agreements(path)
    assert len(loaded) == 3
    assert loaded.get("nw").feedback_deadlines["outflow_registration"] == Deadline(10, DeadlineUnit.CALENDAR)
    assert AgreementBook.from_dicts(loaded.to_dicts()).to_dicts() == loaded.to_dicts()


def test_parties_are_written_as_six_digit_codes_whatever_form_they_came_in():
    a = Agreement(id="x", version=1, name="", parties=("32", "3703", "371302"), effective_from=date(2025, 1, 1))
    assert a.parties == ("320000", "370300", "371302")


@pytest.mark.parametrize("bad", [
    {"parties": ()},
    {"parties": ("CN",)},
    {"parties": ("3",)},
    {"version": 0},
    {"id": "default"},
    {"effective_to": date(2024, 1, 1)},
    {"feedback_deadlines": {"feedback": 3}},
    {"feedback_deadlines": {"birth": 0}},
    {"feedback_deadlines": {"birth": {"days": 3, "unit": "hours"}}},
])
def test_malformed_agreements_are_refused(bad):
    fields = {"id": "x", "version": 1, "name": "", "parties": ("32", "37"), "effective_from": date(2025, 1, 1)}
    with pytest.raises(AgreementError):
        Agreement(**{**fields, **bad})


# -- verification requests (协查): deadlines per urgency ----------------------------------------------------------

def test_without_an_agreement_a_verification_request_is_due_in_15_30_or_7_calendar_days(book):
    at = cst(2026, 9, 30, 10)  # the day before the National Day holidays: calendar days count them all
    due = {u: book.resolve_verification(FENG_XIAN, HAISHU, u, at) for u in ("urgent", "expedited",
                                                                            "certificate_check")}
    assert {u: (r.agreement_id, r.deadline) for u, r in due.items()} == {
        "urgent": ("default", Deadline(15, DeadlineUnit.CALENDAR)),
        "expedited": ("default", Deadline(30, DeadlineUnit.CALENDAR)),
        "certificate_check": ("default", Deadline(7, DeadlineUnit.CALENDAR)),
    }
    ob = open_obligation(message_id="ask", message_type="verification_request", sender=FENG_XIAN, receiver=HAISHU,
                         received_at=at, resolution=due["certificate_check"], calendar=CalendarBook.default()
                         .calendar_for(HAISHU), urgency="certificate_check")
    assert ob.due_at == cst(2026, 10, 8)  # 24:00 of 7 October, though 1-7 October are holidays


def test_an_agreement_sets_its_own_deadline_per_urgency_and_leaves_the_others_to_the_defaults():
    quick = replace(BORDER, version=2, verification_deadlines={"urgent": {"days": 10, "unit": "working"}})
    book = AgreementBook([quick])
    at = cst(2026, 11, 2, 10)
    assert book.resolve_verification(FENG_XIAN, LANSHAN, "urgent", at) == Resolution(
        "su-lu-yu-wan", 2, Deadline(10, DeadlineUnit.WORKING))
    assert book.resolve_verification(FENG_XIAN, LANSHAN, "expedited", at).agreement_id == "default"
    assert book.resolve_verification(FENG_XIAN, HAISHU, "urgent", at).agreement_id == "default"  # not a party
    assert Agreement.from_dict(quick.to_dict()) == quick


def test_verification_deadlines_name_urgencies_and_feedback_deadlines_name_records_answered_with_feedback():
    with pytest.raises(AgreementError, match="unknown key 'someday'"):
        replace(BORDER, version=3, verification_deadlines={"someday": 3})
    with pytest.raises(AgreementError, match="unknown key 'verification_request'"):
        replace(BORDER, version=3, feedback_deadlines={"verification_request": 3})
    assert "verification_deadlines" not in BORDER.to_dict()  # as agreements were signed before urgencies
