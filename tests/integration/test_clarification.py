"""Clarification (请求补充说明 / 补充说明) between two counties on real Kafka.

徽县 (621227) sends 海曙区 (330203) an outflow registration on Friday 30 October 2026, day 0 (due 24:00 Friday
6 November: five working days). 海曙区 asks for clarification on day 3 (Monday 2 November): its clock pauses, and
Zhejiang's monitor is told. 徽县 sees the request in the record's thread and answers it on day 6 (Thursday
5 November): the clock resumes, the deadline moves by the working days paused (Mon, Tue, Wed: 3), to 24:00
Wednesday 11 November, and the monitor's obligation shows the paused days. A request after the
deadline is refused (409 deadline_passed) and changes nothing; a clarification forged by a third county (改则县)
is quarantined (not_counterpart).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from adapters.client import ProblemError
from contracts import MessageType
from exchange.adapters.sql.tables import monitor_obligations
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.clock import set_clock
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_deadlines_and_monitor import Clock
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message
from tests.integration.test_withdrawal import _view
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration

ASK = {"reason": "missing_field", "question": "请补充现居住地详细地址"}
ANSWER = {"answer": "现居住地为海曙区某街道，已核实"}


@pytest.fixture
def clock():
    travel = Clock(datetime(2026, 10, 30, 10, 0, tzinfo=CST))
    set_clock(lambda: travel.now)
    yield travel
    set_clock(None)


async def _monitored(federation: Federation, message_id: str, **where) -> dict | None:  # noqa: ANN003
    monitor = federation.monitor_nodes[-1]
    async with monitor.engine.connect() as conn:
        row = (await conn.execute(select(monitor_obligations).where(
            monitor_obligations.c.message_id == message_id))).first()
    if row is None or any(row._mapping[k] != v for k, v in where.items()):
        return None
    return dict(row._mapping)


async def _request_in_thread(node: RunningNode, record: str) -> dict | None:
    view = await _view(node, record)
    return view if view and view.get("clarifications") else None


async def test_a_clarification_asked_on_day_3_and_answered_on_day_6_moves_the_deadline_by_the_days_paused(
        federation: Federation, clock: Clock):
    settings = {"record_max_age_hours": 24 * 60}
    hui = await federation.start(HUI, **settings)
    haishu = await federation.start(HAISHU, **settings)
    gerze = await federation.start(GERZE, **settings)
    await federation.start_monitor("33")
    record = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    late = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2))
    for r in (record, late):
        await eventually(lambda r=r: _view(haishu, r, obligation=bool), what=f"{r}'s obligation at 海曙区")
    assert (await haishu.client.message(record))["obligation"]["due_at"] == "2026-11-07T00:00:00+08:00"

    # Day 3, Monday 2 November: 海曙区 asks; its clock pauses, the monitor is told.
    clock.to(datetime(2026, 11, 2, 9, 0, tzinfo=CST))
    request = await haishu.client.ask_clarification(record, ASK)
    paused = (await haishu.client.message(record))["obligation"]
    assert paused["status"] == "open"
    await eventually(lambda: _monitored(federation, record, paused=True), what="the monitor to see it paused")
    with pytest.raises(ProblemError) as pending:
        await haishu.client.ask_clarification(record, ASK)
    assert (pending.value.status, pending.value.problem["type"]) == (409, "urn:mpx:problem:clarification_pending")

    # 徽县 sees the request in the record's thread, and answers it on day 6, Thursday 5 November.
    thread = await eventually(lambda: _request_in_thread(hui, record), what="the request at 徽县")
    [item] = thread["clarifications"]
    assert (item["request"]["id"], item["request"]["data"], item["answer"]) == (request, ASK, None)
    assert request in [i["id"] for i in await hui.client.inbox_all(answered=False)]
    clock.to(datetime(2026, 11, 5, 11, 0, tzinfo=CST))
    clarification = await hui.client.clarify(request, ANSWER)
    with pytest.raises(ProblemError) as twice:
        await hui.client.clarify(request, ANSWER)
    assert (twice.value.status, twice.value.problem["type"]) == (409, "urn:mpx:problem:already_clarified")

    # 海曙区: the clock resumed; due 3 working days later (Mon 2, Tue 3, Wed 4 paused): 24:00 Wednesday 11 November.
    view = await eventually(lambda: _view(haishu, record, obligation=lambda o: o and o["paused_working_days"] == 3),
                            what="海曙区's clock to resume")
    assert view["obligation"]["due_at"] == "2026-11-12T00:00:00+08:00"
    [item] = view["clarifications"]
    assert (item["request"]["id"], item["answer"]["id"], item["answer"]["data"]) == (request, clarification, ANSWER)
    assert {i["id"] for i in await haishu.client.inbox_all(answered=False)} == {record, late}
    monitored = await eventually(lambda: _monitored(federation, record, paused=False, paused_working_days=3,
                                                    pause_count=1),
                                 what="the monitor to see the paused days")
    assert str(monitored["due_day"])[:10] == "2026-11-11"

    # After the deadline of the other record (24:00 Friday 6 November): refused, nothing changes.
    clock.to(datetime(2026, 11, 9, 9, 0, tzinfo=CST))
    before = await haishu.counts()
    with pytest.raises(ProblemError) as refused:
        await haishu.client.ask_clarification(late, ASK)
    problem = refused.value.problem
    assert (refused.value.status, problem["type"]) == (409, "urn:mpx:problem:deadline_passed")
    assert problem["title_zh"] and problem["detail_zh"] and problem["title"] and problem["detail"]
    assert await haishu.counts() == before
    assert (await haishu.client.message(late))["obligation"]["paused_working_days"] == 0
    # Bad input: a clarification answering what is not a request of the caller's; an unknown id.
    not_request = await hui.http.post(f"/v1/messages/{late}/clarification", json={"data": ANSWER})
    assert not_request.status_code == 404  # 徽县 sent it: no request it received
    a_record = await haishu.http.post(f"/v1/messages/{record}/clarification", json={"data": ANSWER})
    assert (a_record.status_code, a_record.json()["type"]) == (409, "urn:mpx:problem:not_a_clarification_request")
    unknown = await haishu.http.post("/v1/messages/never-sent/clarification-request", json={"data": ASK})
    assert (unknown.status_code, unknown.json()["type"]) == (404, "urn:mpx:problem:message_not_found")

    # 改则县 forges a clarification of 海曙区's request to 海曙区: quarantined; nothing resumes.
    second = await haishu.client.ask_clarification(record, {"reason": "contradictory", "question": "出生日期矛盾"})
    forged = await forge(gerze, MessageType.CLARIFICATION, sender=GERZE, receiver=HAISHU, in_reply_to=second,
                         data=ANSWER)
    marker = await gerze.client.send(message(MessageType.PREGNANCY_CHECK, GERZE, HAISHU, 5))
    await eventually(lambda: _view(haishu, marker), what="改则县's genuine record behind the forged clarification")
    assert ("not_counterpart", forged) in await quarantined(haishu)
    view = await haishu.client.message(record)
    assert view["obligation"]["paused_working_days"] == 3 and len(view["clarifications"]) == 2
    assert view["clarifications"][1]["answer"] is None
