"""Withdrawal (撤回) between two counties on real Kafka, on SQLite and on PostgreSQL.

徽县 (621227) sends 海曙区 (330203) two outflow registrations and withdraws one before 海曙区 answers it: 海曙区's
obligation is cancelled as withdrawn, both counties see the record withdrawn, and Zhejiang's monitor leaves it out
of the feedback rate's denominator, counting it apart. A withdrawal after the answer is refused (409) and changes
nothing; a third county (改则县) that forges a withdrawal of 徽县's record through its own node is quarantined
(not_counterpart) and the obligation stays open. Bad input gets RFC 9457 problems in Chinese and English.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from adapters.client import ProblemError
from contracts import MessageType, today_in_china
from exchange.adapters.sql.tables import audit_log
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration


async def _view(node: RunningNode, message_id: str, **where: Any) -> dict[str, Any] | None:
    """The message as `node`'s county sees it, once every `where` field (or, for a callable, test) holds."""
    try:
        view = await node.client.message(message_id)
    except ProblemError as not_yet:
        if not_yet.status == 404:  # not arrived yet
            return None
        raise
    for name, wanted in where.items():
        value = view.get(name)
        if not (wanted(value) if callable(wanted) else value == wanted):
            return None
    return view


async def _evidence(node: RunningNode, event: str) -> list[dict[str, Any]]:
    async with node.node.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.event == event)
                                   .order_by(audit_log.c.seq))).all()
    return [{"message_id": r.message_id, "county": r.county, "principal": r.principal,
             "detail": orjson.loads(r.detail) if r.detail else None} for r in rows]


def _period() -> dict[str, str]:
    today = today_in_china()
    return {"from": today.isoformat(), "to": (today + timedelta(days=60)).isoformat()}


async def test_a_record_withdrawn_before_its_answer_is_cancelled_shown_withdrawn_and_out_of_the_denominator(
        federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    zhejiang = await federation.start_monitor("33")
    kept = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    in_error = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2))
    for record in (kept, in_error):
        await eventually(lambda r=record: _view(haishu, r, obligation=bool), what=f"{record}'s obligation at 海曙区")

    withdrawal = await hui.client.withdraw(in_error, {"reason": "wrong_person", "remarks": "身份信息录入错误"})
    assert await hui.client.withdraw(in_error, {"reason": "other"}) == withdrawal  # once per record

    # 海曙区: the record is withdrawn, its obligation cancelled as withdrawn; it awaits no feedback any more.
    received = await eventually(lambda: _view(haishu, in_error, withdrawn_at=bool), what="海曙区 to see it withdrawn")
    assert received["obligation"]["status"] == "cancelled"
    assert received["obligation"]["cancel_reason"] == "withdrawn"
    assert (received["withdrawal"]["id"], received["withdrawal"]["data"]) == (
        withdrawal, {"reason": "wrong_person", "remarks": "身份信息录入错误"})
    assert [item["id"] for item in await haishu.client.inbox_all(answered=False)] == [kept]
    # Feedback to it now is refused (409 record_withdrawn, in Chinese and English), by either endpoint; nothing changes.
    before = await haishu.counts()
    for refused in (await haishu.http.post(f"/v1/messages/{in_error}/feedback", json={"data": feedback("received")}),
                    await haishu.http.post("/v1/messages", json={**message(MessageType.FEEDBACK, HAISHU, HUI),
                                                                 "in_reply_to": in_error,
                                                                 "data": feedback("received")})):
        assert (refused.status_code, refused.json()["type"]) == (409, "urn:mpx:problem:record_withdrawn")
        assert "撤回" in refused.json()["detail_zh"] and "withdrew" in refused.json()["detail"]
    assert await haishu.counts() == before
    # 徽县: its own record shows withdrawn, and the withdrawal reached 海曙区 (its delivery receipt came back).
    sent = await eventually(lambda: _view(hui, in_error, withdrawal=lambda w: w and w["state"] == "delivered"),
                            what="the withdrawal delivered")
    assert sent["withdrawn_at"] is not None and sent["state"] == "delivered"
    assert sent["withdrawal"]["type"] == "withdrawal" and sent["withdrawal"]["in_reply_to"] == in_error
    # Evidence: who withdrew which record and why at 徽县; what arrived at 海曙区.
    [withdrawn] = await _evidence(hui, "withdrawn")
    assert (withdrawn["message_id"], withdrawn["county"]) == (withdrawal, HUI)
    assert withdrawn["principal"] and withdrawn["detail"]["reason"] == "wrong_person"
    assert withdrawn["detail"]["in_reply_to"] == in_error
    assert withdrawal in [e["message_id"] for e in await _evidence(haishu, "received")]

    # The monitor: two obligations due in the period, one withdrawn; the withdrawn one is in no denominator.
    async def figures() -> dict[str, Any] | None:
        total = (await zhejiang.get("/v1/monitor/timeliness", params=_period())).json()["total"]
        return total if (total["cancelled"], total["due"]) == (1, 1) else None

    total = await eventually(figures, what="the monitor to count the withdrawn obligation apart")
    assert (total["withdrawn"], total["open_not_due"], total["answered"]) == (1, 1, 0)
    await haishu.client.answer(kept, feedback("confirmed"))
    answered = await eventually(
        lambda: _answered_total(zhejiang), what="the monitor to see the other one answered")
    assert (answered["feedback_rate"], answered["due"], answered["withdrawn"]) == (1.0, 1, 1)
    csv_head = (await zhejiang.get("/v1/monitor/timeliness", params={**_period(), "format": "csv"})
                ).content.decode("utf-8-sig").splitlines()[0]
    assert "已撤回 withdrawn" in csv_head.split(",")

    # Bad input: a problem in both languages, and nothing stored.
    before = await hui.counts()
    bad = await hui.http.post(f"/v1/messages/{kept}/withdrawal", json={"data": {"reason": "changed_my_mind"}})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    problem = bad.json()
    assert problem["type"] == "urn:mpx:problem:validation_failed" and problem["title_zh"]
    assert [(e["field"], bool(e["message_zh"]), bool(e["message"])) for e in problem["errors"]] == [
        ("data/reason", True, True)]
    unknown = await hui.http.post("/v1/messages/never-sent/withdrawal", json={"data": {"reason": "other"}})
    assert (unknown.status_code, unknown.json()["type"]) == (404, "urn:mpx:problem:message_not_found")
    not_json = await hui.http.post(f"/v1/messages/{kept}/withdrawal", content=b"{",
                                   headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    # 海曙区 cannot withdraw what it received: not its own record.
    theirs = await haishu.http.post(f"/v1/messages/{kept}/withdrawal", json={"data": {"reason": "other"}})
    assert (theirs.status_code, theirs.json()["type"]) == (404, "urn:mpx:problem:message_not_found")
    assert await hui.counts() == before


async def _answered_total(monitor) -> dict[str, Any] | None:  # noqa: ANN001 - the monitor's httpx client
    total = (await monitor.get("/v1/monitor/timeliness", params=_period())).json()["total"]
    return total if total["answered"] == 1 else None


async def test_a_withdrawal_after_the_answer_is_refused_and_a_third_countys_forged_one_is_quarantined(
        federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    gerze = await federation.start(GERZE)
    answered = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3))
    still_open = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 4))
    for record in (answered, still_open):
        await eventually(lambda r=record: in_inbox(haishu, r), what=f"{record} at 海曙区")

    # Answered: the withdrawal is refused with a clear problem, and nothing changes on either side.
    feedback_id = await haishu.client.answer(answered, feedback("confirmed"))
    before_view = await eventually(lambda: _view(hui, answered, state="answered"), what="徽县 to see it answered")
    before = await hui.counts()
    with pytest.raises(ProblemError) as refused:
        await hui.client.withdraw(answered, {"reason": "sent_in_error"})
    assert refused.value.status == 409
    problem = refused.value.problem
    assert problem["type"] == "urn:mpx:problem:already_answered"
    assert problem["title_zh"] == "该报文已被反馈，不能撤回" and "answered" in problem["title"]
    assert problem["detail_zh"] and problem["detail"]
    assert await hui.counts() == before
    assert await hui.client.message(answered) == before_view
    assert await _evidence(hui, "withdrawn") == []
    # Feedback is no record: 海曙区, which sent it, cannot withdraw it either.
    reply = await haishu.http.post(f"/v1/messages/{feedback_id}/withdrawal", json={"data": {"reason": "other"}})
    assert (reply.status_code, reply.json()["type"]) == (409, "urn:mpx:problem:not_withdrawable")
    assert reply.json()["title_zh"] and reply.json()["detail_zh"]

    # 改则县's node forges a withdrawal of 徽县's still-open record to 海曙区, signed with its own genuine key.
    forged = await forge(gerze, MessageType.WITHDRAWAL, sender=GERZE, receiver=HAISHU, in_reply_to=still_open,
                         data={"reason": "sent_in_error"})
    marker = await gerze.client.send(message(MessageType.PREGNANCY_CHECK, GERZE, HAISHU, 5))
    await eventually(lambda: in_inbox(haishu, marker), what="改则县's genuine record behind the forged withdrawal")
    assert ("not_counterpart", forged) in await quarantined(haishu)
    view = await haishu.client.message(still_open)
    assert view["withdrawn_at"] is None and view["obligation"]["status"] == "open"
    assert "withdrawal" not in view
