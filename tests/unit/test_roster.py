"""The monthly roster check's rules (定期清查): which month may run, who is on a roster, what each finding is and
what each side is to do about it."""

from __future__ import annotations

from datetime import date

from exchange.domain.roster import (
    REGISTRATION,
    RESIDENCE,
    Cancelled,
    Registered,
    counts,
    finding,
    in_parts,
    is_closed,
    latest_closed,
    next_step,
    roster_id,
    rosters,
)

HUI, HAISHU, GERZE = "621227", "330203", "542527"


def person(number: str) -> dict[str, str]:
    return {"name": "某某", "id_number": number}


def test_a_month_runs_from_its_cutoff_day_and_the_newest_closed_month_follows_the_calendar():
    assert not is_closed("2026-11", date(2026, 11, 19), 20)
    assert is_closed("2026-11", date(2026, 11, 20), 20) and is_closed("2026-11", date(2026, 12, 1), 20)
    assert not is_closed("2026-12", date(2026, 12, 5), 20)
    assert latest_closed(date(2026, 12, 5), 20) == "2026-11"
    assert latest_closed(date(2026, 12, 20), 20) == "2026-12"
    assert latest_closed(date(2027, 1, 3), 20) == "2026-12"


def test_the_roster_lists_registrations_not_cancelled_by_a_later_return_per_residence_county():
    registrations = [
        Registered(HUI, HAISHU, "reg-1", person("1")),
        Registered(HUI, HAISHU, "reg-2", person("2")),  # came home: a cancellation names it
        Registered(HUI, HAISHU, "reg-3", person("3")),  # came home: a cancellation names the person
        Registered(HUI, GERZE, "reg-4", person("1")),  # same person, elsewhere: another pair's cancellation
        Registered(HUI, HAISHU, "reg-5", person("3")),  # left again after coming home: stays on
    ]
    cancellations = [Cancelled(HUI, HAISHU, "reg-2", "2", after=2), Cancelled(HUI, HAISHU, None, "3", after=4),
                     Cancelled(HUI, GERZE, None, "9", after=5)]

    found = rosters(registrations, cancellations)

    assert {pair: [e["registration_id"] for e in entries] for pair, entries in found.items()} == {
        (HUI, HAISHU): ["reg-1", "reg-5"], (HUI, GERZE): ["reg-4"]}
    assert found[(HUI, HAISHU)][0]["person"] == person("1")


def test_the_residence_county_finds_from_its_latest_feedback_to_the_registration():
    assert finding(True, False, {"status": "confirmed"}) == {"finding": "still_here"}
    assert finding(True, False, {"status": "received"}) == {"finding": "still_here"}
    assert finding(True, False, {"status": "moved_on", "new_region": GERZE}) == {"finding": "left",
                                                                                  "new_region": GERZE}
    assert finding(True, False, {"status": "not_found"}) == {"finding": "never_arrived"}
    assert finding(False, False, None) == {"finding": "unknown"}  # never received
    assert finding(True, False, None) == {"finding": "unknown"}  # not answered yet
    assert finding(True, True, {"status": "confirmed"}) == {"finding": "unknown"}  # cancelled here
    assert finding(True, False, {"status": "rejected"}) == {"finding": "unknown"}


def test_counts_and_what_each_side_does_next():
    assert counts(["still_here", "left", "left", "unknown"]) == {
        "entries": 4, "still_here": 1, "left": 2, "never_arrived": 0, "unknown": 1}
    zh, en = next_step(REGISTRATION, "left")
    assert "返回注销" in zh and "return cancellation" in en
    zh, en = next_step(RESIDENCE, "left")
    assert "离开未报告" in zh and "departure not reported" in en


def test_one_roster_id_per_month_pair_and_part():
    assert roster_id(HUI, HAISHU, "2026-11") == roster_id(HUI, HAISHU, "2026-11", 1)
    assert len({roster_id(HUI, HAISHU, "2026-11"), roster_id(HUI, HAISHU, "2026-12"),
                roster_id(HUI, GERZE, "2026-11"), roster_id(HUI, HAISHU, "2026-11", 2)}) == 4


def test_a_long_roster_goes_in_parts():
    entries = [{"registration_id": str(i)} for i in range(5)]
    assert [[e["registration_id"] for e in part] for part in in_parts(entries, 2)] == [["0", "1"], ["2", "3"], ["4"]]
    assert in_parts(entries, 5) == [entries]
