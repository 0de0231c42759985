"""The monthly roster check (定期清查) at two nodes, over fake units of work: 徽县 (registration county) sends 海曙区
(residence county) its roster once the month is closed, once per month; 海曙区's node answers from its own feedback;
each side keeps its discrepancy, and a return cancellation resolves 徽县's."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from contracts import Envelope, MessageType
from contracts.examples import example_payload, feedback_example
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.trust import Trust
from exchange.config import Settings
from exchange.domain import AgreementBook, CalendarBook
from exchange.domain.clock import set_clock
from exchange.domain.commands import FeedbackIn, MessageIn
from exchange.domain.events import RosterAnswered
from exchange.domain.problems import Problem
from exchange.domain.roster import roster_id
from exchange.service.obligations import Obligations
from exchange.service.roster import Rosters
from exchange.service.sending import Outbound
from tests.unit.fakes import FakeUnitOfWork

HUI, HAISHU, GERZE = "621227", "330203", "542527"
DECEMBER_1 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # November's cut-off (the 20th) has passed


@pytest.fixture(autouse=True)
def clock():
    set_clock(lambda: DECEMBER_1)
    yield
    set_clock(None)


async def _admit(conn, adding: int) -> None:  # noqa: ANN001
    return None


def node(county: str) -> tuple[FakeUnitOfWork, Outbound, Rosters]:
    uow = FakeUnitOfWork()
    settings = Settings(counties=county, node_id=county)
    trust = Trust(None, PayloadCipher.from_setting(""))  # type: ignore[arg-type]
    outbound = Outbound(settings, lambda: uow, Obligations(AgreementBook(), CalendarBook.default(), b"k"), trust,
                        _admit, lambda: None)
    return uow, outbound, Rosters(settings, lambda: uow, outbound.compose, trust, lambda: None)


def registration(seed: int) -> MessageIn:
    return MessageIn(id=f"reg-{seed}", type="outflow_registration", sender=HUI, receiver=HAISHU, data=example_payload(
        MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=HUI, residence_region=HAISHU))


def return_cancellation(seed: int, names: str) -> MessageIn:
    data = example_payload(MessageType.RETURN_CANCELLATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)
    return MessageIn(id=f"ret-{seed}", type="return_cancellation", sender=HUI, receiver=HAISHU,
                     data={**data, "outflow_message_id": names})


def sent(uow: FakeUnitOfWork, sender: str, message_id: str) -> tuple[Envelope, dict]:
    row = uow.messages.rows[("out", sender, message_id)]
    return Envelope.model_validate_json(row["envelope"]), orjson.loads(row["payload"])


async def test_the_roster_lists_who_is_still_registered_away_and_goes_once_per_month_and_pair():
    uow, outbound, rosters = node(HUI)
    await outbound.submit([registration(1), registration(2), registration(3)])
    await outbound.submit([return_cancellation(3, names="reg-3")])  # came home

    run = await rosters.run("2026-11")

    rid = roster_id(HUI, HAISHU, "2026-11")
    assert run == {"month": "2026-11", "already_sent": [], "sent": [
        {"roster_id": rid, "registration_county": HUI, "residence_county": HAISHU, "entries": 2, "parts": 1}]}
    envelope, data = sent(uow, HUI, rid)
    assert (envelope.message_type, envelope.receiverregion) == (MessageType.ROSTER, HAISHU)
    assert [e["registration_id"] for e in data["entries"]] == ["reg-1", "reg-2"]
    assert data["entries"][0]["person"] == registration(1).data["person"]

    rows = dict(uow.messages.rows)
    again = await rosters.run("2026-11")
    assert (again["sent"], [p["roster_id"] for p in again["already_sent"]]) == ([], [rid])
    assert uow.messages.rows == rows


async def test_the_node_runs_the_newest_closed_month_by_itself_once():
    uow, outbound, rosters = node(HUI)
    await outbound.submit([registration(1)])
    first = await rosters.run_due()  # on 1 December: November (December's cut-off is the 20th)
    assert first is not None and first["month"] == "2026-11" and len(first["sent"]) == 1
    again = await rosters.run_due()
    assert again is not None and (again["sent"], len(again["already_sent"])) == ([], 1)


async def test_a_month_not_yet_closed_is_refused_and_nothing_is_sent():
    uow, outbound, rosters = node(HUI)
    await outbound.submit([registration(1)])
    rows, events = dict(uow.messages.rows), list(uow.events)
    with pytest.raises(Problem) as refused:
        await rosters.run("2026-12")
    assert (refused.value.code, refused.value.status) == ("month_not_closed", 409)
    assert "2026-12-20" in refused.value.detail_zh and "2026-12-20" in refused.value.detail_en
    assert uow.messages.rows == rows and uow.events == events


async def test_the_residence_county_answers_from_its_feedback_and_both_sides_keep_the_discrepancy():
    hui_uow, hui, hui_rosters = node(HUI)
    await hui.submit([registration(1), registration(2), registration(3)])
    await hui_rosters.run("2026-11")
    roster, roster_data = sent(hui_uow, HUI, roster_id(HUI, HAISHU, "2026-11"))

    # 海曙区 received reg-1 and reg-2 (not reg-3), confirmed the first, and the second moved on to 改则县.
    haishu_uow, haishu, haishu_rosters = node(HAISHU)
    for rid in ("reg-1", "reg-2"):
        haishu_uow.messages.receive(HUI, HAISHU, rid, "outflow_registration")
    haishu_uow.messages.receive(HUI, HAISHU, roster.id, "roster")
    await haishu.answer("reg-1", FeedbackIn(id="fb-1", data=feedback_example(1, status="confirmed")))
    await haishu.answer("reg-2", FeedbackIn(id="fb-2", data={**feedback_example(1, status="moved_on"),
                                                             "new_region": GERZE}))

    await haishu_rosters.answer(haishu_uow, roster, roster_data, DECEMBER_1)

    answer_id = next(i for (d, _, i), r in haishu_uow.messages.rows.items() if r["type"] == "roster_answer")
    answer, answer_data = sent(haishu_uow, HAISHU, answer_id)
    assert (answer.inreplyto, answer.receiverregion) == (roster.id, HUI)
    assert answer_data["entries"] == [
        {"registration_id": "reg-1", "finding": "still_here"},
        {"registration_id": "reg-2", "finding": "left", "new_region": GERZE},
        {"registration_id": "reg-3", "finding": "unknown"}]
    assert "person" not in orjson.dumps(answer_data).decode()
    [figures] = [e for e in haishu_uow.events if isinstance(e, RosterAnswered)]
    assert figures.residence == HAISHU and {k: figures.body[k] for k in (
        "entries", "still_here", "left", "never_arrived", "unknown")} == {
        "entries": 3, "still_here": 1, "left": 1, "never_arrived": 0, "unknown": 1}
    assert haishu_uow.messages.rows[("in", HUI, roster.id)]["answered_at"] is not None
    residence = await _open(haishu_rosters, [HAISHU])
    assert [(d["side"], d["registration_id"], d["finding"]) for d in residence] == [
        ("residence", "reg-2", "left"), ("residence", "reg-3", "unknown")]
    assert residence[0]["next_step"].startswith("离开未报告")
    events = list(haishu_uow.events)
    await haishu_rosters.answer(haishu_uow, roster, roster_data, DECEMBER_1)  # the roster again: answered once
    assert haishu_uow.events == events

    # Back at 徽县: the answer's discrepancies (a forged entry the roster did not list is left out).
    forged = {**answer_data, "entries": [*answer_data["entries"], {"registration_id": "elsewhere",
                                                                   "finding": "left"}]}
    await hui_rosters.answered(hui_uow, answer, forged, DECEMBER_1)
    registration_side = await _open(hui_rosters, [HUI])
    assert [(d["registration_id"], d["finding"], d["new_region"]) for d in registration_side] == [
        ("reg-2", "left", GERZE), ("reg-3", "unknown", None)]
    assert "返回注销" in registration_side[0]["next_step"]
    view = await hui_rosters.view("2026-11", [HUI])
    assert [(r["side"], r["entries"], r["still_here"], r["match_rate"]) for r in view["rosters"]] == [
        ("registration", 3, 1, 0.3333)]
    assert await _open(hui_rosters, [GERZE]) == []  # only the caller's counties

    # 徽县 sends the return cancellation: its discrepancy about reg-2 is resolved, reg-3's stays.
    await hui.submit([return_cancellation(2, names="reg-2")])
    assert [d["registration_id"] for d in await _open(hui_rosters, [HUI])] == ["reg-3"]
    [resolved] = [d for d in (await hui_rosters.view("2026-11", [HUI]))["discrepancies"] if d["resolved_at"]]
    assert (resolved["registration_id"], resolved["resolved_by"]) == ("reg-2", "ret-2")


async def _open(rosters: Rosters, counties: list[str]) -> list[dict]:
    """The county's open discrepancies of the month, as GET /v1/roster shows them."""
    return [d for d in (await rosters.view("2026-11", counties))["discrepancies"] if d["resolved_at"] is None]


async def test_a_long_roster_goes_in_parts_each_answered_and_counted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("exchange.service.roster.MAX_ENTRIES", 2)
    hui_uow, hui, hui_rosters = node(HUI)
    await hui.submit([registration(1), registration(2), registration(3)])

    run = await hui_rosters.run("2026-11")

    assert [(p["entries"], p["parts"]) for p in run["sent"]] == [(3, 2)]
    first, second = (sent(hui_uow, HUI, roster_id(HUI, HAISHU, "2026-11", part)) for part in (1, 2))
    assert [(d["part"], d["parts"], len(d["entries"])) for _, d in (first, second)] == [(1, 2, 2), (2, 2, 1)]
    assert (await hui_rosters.run("2026-11"))["sent"] == []

    haishu_uow, _, haishu_rosters = node(HAISHU)
    for envelope, data in (first, second):
        await haishu_rosters.answer(haishu_uow, envelope, data, DECEMBER_1)
    view = await haishu_rosters.view("2026-11", [HAISHU])
    assert [(r["side"], r["part"], r["entries"], r["unknown"]) for r in view["rosters"]] == [
        ("residence", 1, 2, 2), ("residence", 2, 1, 1)]
    figures = [e.body for e in haishu_uow.events if isinstance(e, RosterAnswered)]
    assert [(f["part"], f["parts"], f["entries"]) for f in figures] == [(1, 2, 2), (2, 2, 1)]


async def test_rosters_and_their_answers_are_not_posted_by_a_local_system():
    uow, outbound, _ = node(HUI)
    with pytest.raises(Problem) as posted:
        await outbound.submit([MessageIn(id="r-1", type="roster", sender=HUI, receiver=HAISHU,
                                         data=example_payload(MessageType.ROSTER, seed=0))])
    assert (posted.value.code, posted.value.status) == ("unknown_message_type", 422)
    assert uow.messages.rows == {}
