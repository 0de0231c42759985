"""The monthly roster check (定期清查) between two counties on real Kafka.

徽县 (621227) registered two persons as gone to 海曙区 (330203). 海曙区 confirmed the first (已核实); the second has
moved on to 改则县 (已再流动), but 徽县 never sent a return cancellation. Last month is closed (its cut-off day, the
20th, has passed): 徽县's office runs the roster check. 海曙区's node answers it by itself: one still here, one left.
Each side now has one discrepancy to follow up (徽县: left without a cancellation; 海曙区: a departure not reported),
and Zhejiang's monitor shows the pair's match rate, 1/2, without a single personal field. Running the month again
sends nothing; next month is not closed yet and is refused in Chinese and English; an answer forged by 改则县's node
is quarantined, and so are figures it signs for the pair at the monitor. 徽县 then sends the return cancellation, and the discrepancy is resolved on both sides.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from contracts import MessageType, today_in_china
from exchange.adapters.crypto.canonical import roster_figures_bytes
from exchange.adapters.sql.tables import monitor_obligations, quarantine
from exchange.domain.clock import utcnow
from exchange.domain.roster import roster_id
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message
from tests.integration.test_trust import produce
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration

ADMIN = "test-admin-token"
#: Only on demand here: the timer would run the month before the office does.
ON_DEMAND = {"roster_interval_seconds": 0}


def _months() -> tuple[str, str]:
    """Last month (closed: its cut-off day, the 20th, has passed) and next month (not closed), as YYYY-MM."""
    today = today_in_china()
    last = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    following = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return f"{last:%Y-%m}", f"{following:%Y-%m}"


async def _roster(node: RunningNode, month: str, answered: bool = True) -> dict[str, Any] | None:
    view = (await node.http.get("/v1/roster", params={"month": month})).json()
    if answered and not (view["rosters"] and view["rosters"][0]["answered_at"]):
        return None
    return view


async def _run(node: RunningNode, month: str):  # noqa: ANN202 - an httpx response
    return await node.http.post("/v1/admin/roster-runs", json={"month": month},
                                headers={"authorization": f"Bearer {ADMIN}"})


async def test_a_roster_where_one_person_left_without_a_cancellation_shows_one_discrepancy_on_each_side(
        federation: Federation):
    closed, not_closed = _months()
    hui = await federation.start(HUI, admin_token=ADMIN, **ON_DEMAND)
    haishu = await federation.start(HAISHU, **ON_DEMAND)
    gerze = await federation.start(GERZE, **ON_DEMAND)
    zhejiang = await federation.start_monitor("33")
    stays = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1)
    moves = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2)
    stays_id, moves_id = await hui.client.send(stays), await hui.client.send(moves)
    for record in (stays_id, moves_id):
        await eventually(lambda r=record: in_inbox(haishu, r), what=f"{record} at 海曙区")
    await haishu.client.answer(stays_id, feedback("confirmed"))
    await haishu.client.answer(moves_id, feedback("moved_on", reason="本人已再流动", new_region=GERZE))

    # 徽县's office runs last month's roster check: one roster, to 海曙区, of two persons.
    run = await _run(hui, closed)
    assert run.status_code == 200, run.text
    rid = roster_id(HUI, HAISHU, closed)
    assert run.json() == {"month": closed, "already_sent": [], "sent": [
        {"roster_id": rid, "registration_county": HUI, "residence_county": HAISHU, "entries": 2, "parts": 1}]}

    # 海曙区's node answered it by itself: one still here, one left (for 改则县).
    at_hui = await eventually(lambda: _roster(hui, closed), what="the roster answered at 徽县")
    [kept] = at_hui["rosters"]
    assert (kept["side"], kept["roster_id"], kept["entries"], kept["still_here"], kept["left"],
            kept["match_rate"]) == ("registration", rid, 2, 1, 1, 0.5)
    [theirs] = at_hui["discrepancies"]
    assert (theirs["side"], theirs["registration_id"], theirs["finding"], theirs["new_region"]) == (
        "registration", moves_id, "left", GERZE)
    assert "返回注销" in theirs["next_step"] and "return cancellation" in theirs["next_step_en"]
    at_haishu = await _roster(haishu, closed)
    [ours] = at_haishu["discrepancies"]
    assert (ours["side"], ours["registration_id"], ours["finding"]) == ("residence", moves_id, "left")
    assert ours["next_step"].startswith("离开未报告") and "departure not reported" in ours["next_step_en"]
    # Each on its county's to-do list, due when the next month's check may run.
    for node, kind in ((hui, "roster_registration"), (haishu, "roster_residence")):
        [todo] = (await node.http.get("/v1/worklist", params={"kind": kind})).json()["items"]
        assert (todo["message_id"], todo["sender"], todo["receiver"], todo["record_id"]) == (moves_id, HUI, HAISHU,
                                                                                              rid)
        assert todo["due_at"].endswith("T00:00:00+08:00") and todo["next"]["href"] == f"/v1/roster?month={closed}"
    person = moves["data"]["person"]
    for view in (at_hui, at_haishu):  # ids and codes: no name, no ID number
        assert person["name"] not in orjson.dumps(view).decode()
        assert person["id_number"] not in orjson.dumps(view).decode()
    roster_view = await hui.client.message(rid)
    assert (roster_view["type"], roster_view["state"]) == ("roster", "answered")
    # Neither the roster nor its answer awaits feedback from anyone.
    assert await hui.client.inbox_all(answered=False) == []
    assert await haishu.client.inbox_all(answered=False) == []

    # Zhejiang's monitor: the pair's match rate is 1/2, from counts alone.
    async def figures() -> dict[str, Any] | None:
        answer = (await zhejiang.get("/v1/monitor/roster", params={"month": closed})).json()
        return answer if answer["pairs"] else None

    match = await eventually(figures, what="the monitor to count the roster")
    [pair] = match["pairs"]
    assert (pair["registration_county"], pair["residence_county"], pair["entries"], pair["still_here"],
            pair["left"], pair["never_arrived"], pair["unknown"], pair["match_rate"], pair["parts_answered"]) == (
        HUI, HAISHU, 2, 1, 1, 0, 0, 0.5, 1)
    assert match["total"]["match_rate"] == 0.5 and "÷" in match["definitions"]["match_rate"]
    assert person["name"] not in (await zhejiang.get("/v1/monitor/roster", params={"month": closed,
                                                                                   "format": "csv"})).text

    # The same month again sends nothing, and says so; this month is not closed yet.
    before = await hui.counts()
    again = await _run(hui, closed)
    assert (again.status_code, again.json()["sent"], [p["roster_id"] for p in again.json()["already_sent"]]) == (
        200, [], [rid])
    early = await _run(hui, not_closed)
    assert early.status_code == 409 and early.headers["content-type"].startswith("application/problem+json")
    problem = early.json()
    assert problem["type"] == "urn:mpx:problem:month_not_closed"
    assert problem["title_zh"] and problem["title"] and f"{not_closed}-20" in problem["detail_zh"]
    assert f"{not_closed}-20" in problem["detail"]
    bad = await _run(hui, "2026-13")
    assert bad.status_code == 422
    assert await hui.counts() == before

    # 改则县's node forges 海曙区's answer (all still here), signed with its own genuine key: quarantined.
    forged = await forge(gerze, MessageType.ROSTER_ANSWER, sender=GERZE, receiver=HUI, in_reply_to=rid, data={
        "month": closed, "entries": [{"registration_id": moves_id, "finding": "still_here"}]})
    marker = await gerze.client.send(message(MessageType.PREGNANCY_CHECK, GERZE, HUI, 5))
    await eventually(lambda: in_inbox(hui, marker), what="改则县's genuine record behind the forged answer")
    assert ("not_counterpart", forged) in await quarantined(hui)
    # Nor does 海曙区's own node answer a roster with anything but a roster answer (feedback is for records).
    stray = await forge(haishu, MessageType.FEEDBACK, sender=HAISHU, receiver=HUI, in_reply_to=rid,
                        data=feedback("confirmed"))

    async def stray_quarantined() -> bool:
        return ("not_counterpart", stray) in await quarantined(hui)

    await eventually(stray_quarantined, what="a feedback naming the roster quarantined")
    assert (await _roster(hui, closed))["discrepancies"] == at_hui["discrepancies"]

    # 改则县's node signs figures for the pair claiming both persons still there: the monitor believes only the
    # roster's residence county (海曙区), and sets them aside.
    gerze_key = gerze.node.trust.ring.signer(GERZE, utcnow())
    inflated = {"month": closed, "registration_county": HUI, "residence_county": HAISHU, "roster_id": rid,
                "part": 1, "parts": 1, "answered_at": pair["answered_at"], "entries": 2, "still_here": 2, "left": 0, "never_arrived": 0,
                "unknown": 0}
    await produce(federation.bootstrap, haishu.node.topics.monitor_topic, haishu.node.topics.partition_for(HAISHU),
                  HAISHU, orjson.dumps(inflated), [
                      ("ce_type", b"cn.mpx.roster.answered"), ("mpx-key-id", gerze_key.key_id.encode()),
                      ("mpx-signature", gerze_key.sign(roster_figures_bytes(inflated)).encode())])

    # 徽县 sends the return cancellation: resolved at once at 徽县, and at 海曙区 once it arrives.
    cancellation = message(MessageType.RETURN_CANCELLATION, HUI, HAISHU, 2)
    cancellation["data"]["outflow_message_id"] = moves_id
    cancellation_id = await hui.client.send(cancellation)
    [resolved] = (await _roster(hui, closed))["discrepancies"]
    assert (resolved["resolved_by"], bool(resolved["resolved_at"])) == (cancellation_id, True)
    assert (await hui.http.get("/v1/worklist", params={"kind": "roster_registration"})).json()["items"] == []

    async def resolved_at_haishu() -> dict[str, Any] | None:
        [found] = (await _roster(haishu, closed))["discrepancies"]
        return found if found["resolved_at"] else None

    assert (await eventually(resolved_at_haishu, what="海曙区 to see it resolved"))["resolved_by"] == cancellation_id
    # The cancellation's obligation reached the monitor after the inflated figures (one partition): still 1/2.
    await eventually(lambda: _monitored(federation, cancellation_id), what="the cancellation at the monitor")
    assert [p["match_rate"] for p in (await zhejiang.get("/v1/monitor/roster", params={"month": closed})
                                      ).json()["pairs"]] == [0.5]
    async with federation.monitor_nodes[-1].engine.connect() as conn:
        assert [r.reason_code for r in await conn.execute(select(quarantine.c.reason_code))] == ["unknown_key"]


async def _monitored(federation: Federation, message_id: str) -> bool:
    async with federation.monitor_nodes[-1].engine.connect() as conn:
        return bool(await conn.scalar(select(monitor_obligations.c.message_id).where(
            monitor_obligations.c.message_id == message_id)))
