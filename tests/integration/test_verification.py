"""Verification requests (协查) between two counties on real Kafka.

徽县 (621227) asks 海曙区 (330203) on Monday 2 November 2026, day 0, to verify a woman's pregnancy and residence,
urgent (紧急): due in 15 calendar days, 24:00 Tuesday 17 November. 海曙区 matches her against its file on day 1 and
tries to answer at once, though she was found: refused (409 step_out_of_order), nothing changes. 徽县 sees each
step. 海曙区 verifies by a visit and answers on day 16 (Wednesday 18 November): late. Zhejiang's monitor counts it
in the verification figures (feedback rate 1, on-time rate 0) and not in the records' timeliness. A step forged by
a third county (改则县) on 徽县's request is quarantined (not_counterpart) and 徽县's view does not move.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.client import ProblemError
from contracts import MessageType
from contracts.examples import example_payload
from exchange.domain.clock import SHANGHAI as CST
from tests.integration.conftest import Federation, eventually
from tests.integration.test_deadlines_and_monitor import Clock, clock  # noqa: F401 - day 0: Monday 2 November, 10:00
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message
from tests.integration.test_withdrawal import _view
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration

MATCHED = {"step": "matched", "found": True}
VERIFIED = {"step": "verified", "method": "visit"}
ANSWERED = {"step": "answered", "result": "confirmed", "findings": "经入户核实，该人员现居住于本辖区，孕情属实"}
NOVEMBER = {"from": "2026-11-01", "to": "2026-12-01"}


def _at_step(step: str):  # noqa: ANN202
    return lambda v: v is not None and v["step"] == step


async def test_an_urgent_pregnancy_verification_answered_on_day_16_is_late_at_the_monitor(
        federation: Federation, clock: Clock):
    settings = {"record_max_age_hours": 24 * 60}
    hui = await federation.start(HUI, **settings)
    haishu = await federation.start(HAISHU, **settings)
    gerze = await federation.start(GERZE, **settings)
    zhejiang = await federation.start_monitor("33")

    # Day 0: 徽县 asks; 海曙区 owes the answer within 15 calendar days, weekends counted.
    asked = example_payload(MessageType.VERIFICATION_REQUEST, seed=0, registration_region=HUI)
    assert (asked["urgency"], asked["subjects"]) == ("urgent", ["pregnancy", "residence"])
    request = await hui.client.send({"type": "verification_request", "sender": HUI, "receiver": HAISHU,
                                     "data": asked})
    received = await eventually(lambda: _view(haishu, request, obligation=bool), what="the request at 海曙区")
    assert received["obligation"]["urgency"] == "urgent"
    assert received["obligation"]["due_at"] == "2026-11-18T00:00:00+08:00"
    assert received["verification"] == {"urgency": "urgent", "step": "received",
                                        "due_at": "2026-11-18T00:00:00+08:00", "steps": []}
    # On 海曙区's to-do list: the next step, due by the urgency; 徽县 has nothing to do.
    [todo] = (await haishu.http.get("/v1/worklist", params={"kind": "verification"})).json()["items"]
    assert (todo["message_id"], todo["urgency"], todo["due_at"], todo["next"]["action"]) == (
        request, "urgent", "2026-11-18T00:00:00+08:00", "report_verification_step")
    assert (await haishu.http.get("/v1/worklist", params={"urgency": "expedited"})).json()["items"] == []
    assert (await hui.http.get("/v1/worklist", params={"kind": "verification"})).json()["items"] == []
    # 徽县 reckons the same deadline from when its receipt came back (the same day).
    delivered = await eventually(lambda: _view(hui, request, state="delivered"), what="the receipt at 徽县")
    assert delivered["verification"] == received["verification"]

    # Day 1: matched, found; answering now skips the verification: refused, nothing changes.
    clock.to(datetime(2026, 11, 3, 9, 0, tzinfo=CST))
    with pytest.raises(ProblemError) as early:
        await haishu.client.verification_step(request, VERIFIED)
    assert (early.value.status, early.value.problem["type"]) == (409, "urn:mpx:problem:step_out_of_order")
    matched = await haishu.client.verification_step(request, MATCHED)
    before = await haishu.counts()
    with pytest.raises(ProblemError) as skipped:
        await haishu.client.verification_step(request, ANSWERED)
    problem = skipped.value.problem
    assert (skipped.value.status, problem["type"]) == (409, "urn:mpx:problem:step_out_of_order")
    assert "配对" in problem["detail_zh"] and "matched" in problem["detail"] and problem["title_zh"]
    assert await haishu.counts() == before
    assert (await haishu.client.message(request))["verification"]["step"] == "matched"
    answered = await haishu.http.post(f"/v1/messages/{request}/feedback", json={"data": feedback("received")})
    assert (answered.status_code, answered.json()["type"]) == (409, "urn:mpx:problem:not_answerable")

    # 徽县 sees the step.
    seen = await eventually(lambda: _view(hui, request, verification=_at_step("matched")), what="the match at 徽县")
    assert matched not in [i["id"] for i in await hui.client.inbox_all(answered=False)]  # a step awaits no answer
    assert [(s["id"], s["step"], s["found"]) for s in seen["verification"]["steps"]] == [(matched, "matched", True)]

    # 改则县 forges the answer to 徽县's request: quarantined; 徽县's view does not move.
    forged = await forge(gerze, MessageType.VERIFICATION_STEP, sender=GERZE, receiver=HUI, in_reply_to=request,
                         data=ANSWERED)
    marker = await gerze.client.send(message(MessageType.BIRTH, GERZE, HUI, 5))
    await eventually(lambda: _view(hui, marker), what="改则县's genuine record behind the forged step")
    assert ("not_counterpart", forged) in await quarantined(hui)
    assert (await hui.client.message(request))["verification"]["step"] == "matched"

    # Day 16, Wednesday 18 November: verified by a visit and answered, a day after the deadline.
    clock.to(datetime(2026, 11, 18, 10, 0, tzinfo=CST))
    await haishu.client.verification_step(request, VERIFIED)
    answer = await haishu.client.verification_step(request, ANSWERED)
    worked = await haishu.client.message(request)
    assert (worked["state"], worked["obligation"]["status"]) == ("answered", "answered_late")
    assert worked["obligation"]["feedback_id"] == answer
    assert (await haishu.http.get("/v1/worklist", params={"kind": "verification"})).json()["items"] == []

    # (Both conditions: the view reads the request and its steps in separate statements.)
    done = await eventually(lambda: _view(hui, request, verification=_at_step("answered"), state="answered"),
                            what="the answer at 徽县")
    assert [s["step"] for s in done["verification"]["steps"]] == ["matched", "verified", "answered"]
    assert [s["kind"] for s in done["thread"]] == ["sent", "delivered", "matched", "verified", "answered"]
    assert {s["county"] for s in done["thread"][2:]} == {HAISHU}
    assert done["verification"]["steps"][-1]["result"] == "confirmed"

    # Zhejiang's monitor: late, answered (feedback rate 1, on-time rate 0); not in the records' timeliness.
    async def figures():  # noqa: ANN202
        body = (await zhejiang.get("/v1/monitor/verification", params={**NOVEMBER, "group_by": "urgency"})).json()
        return body if body["total"]["answered"] == 1 else None

    body = await eventually(figures, what="the monitor's verification figures")
    [urgent] = body["groups"]
    assert (urgent["group"], urgent["name"], urgent["due"], urgent["answered_late"]) == ("urgent", "紧急", 1, 1)
    assert (body["total"]["feedback_rate"], body["total"]["on_time_rate"]) == (1.0, 0.0)
    assert "verification requests" in body["cohort"]
    by_county = (await zhejiang.get("/v1/monitor/verification", params=NOVEMBER)).json()
    assert [(g["group"], g["on_time_rate"]) for g in by_county["groups"]] == [(HAISHU, 0.0)]
    records = (await zhejiang.get("/v1/monitor/timeliness", params=NOVEMBER)).json()
    assert (records["groups"], records["total"]["due"]) == ([], 0)
