"""A county's to-do list (待办) on real Kafka: what 海曙区 (330203) and 改则县 (542526), served by one node, must do.

徽县 (621227) sends 海曙区 an outflow registration on Friday 30 October 2026 (feedback due 24:00 Friday 6 November)
and another on Monday 2 November (due 24:00 Monday 9 November), and 改则县 one on Friday (due Friday 6 November).
海曙区 sent 徽县 a pregnancy check on Friday; 徽县 asks for clarification of it on Monday, and 海曙区's answer is due
three working days after the request arrived: 24:00 Thursday 5 November. Each county's key sees its own list only,
soonest due first; the statuses move as the clock does; the answer takes the request off the list, and the record's
thread tells who did what when. The list comes as CSV and Excel with Chinese headings; bad filters are refused.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest

from contracts import MessageType
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.principals import Role
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_clarification import clock  # noqa: F401 - Friday 30 October 2026, 10:00 in China
from tests.integration.test_deadlines_and_monitor import Clock
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message
from tests.integration.test_withdrawal import _view

pytestmark = pytest.mark.integration

HEADINGS = ["事项 kind", "状态 status", "截止时间 due at", "报文编号 message id", "所涉报文 record", "报文类型 type",
            "发送地 sender", "接收地 receiver", "收到时间 received at", "下一步 next step", "办理入口 where"]


async def _key(node: RunningNode, county: str) -> dict[str, str]:
    """The authorisation header of a counter key of one county's office."""
    issued = await node.node.keys.create(name=f"{county} 窗口", role=Role.COUNTY_OPERATOR, counties=frozenset({county}))
    return {"Authorization": f"Bearer {issued.key}"}


async def _todo(node: RunningNode, headers: dict[str, str], **params: str) -> list[tuple[str, str, str, str]]:
    answer = await node.http.get("/v1/worklist", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [(i["kind"], i["message_id"], i["due_at"], i["status"]) for i in answer.json()["items"]]


async def test_each_county_sees_its_own_list_soonest_due_first_and_works_through_it(federation: Federation,
                                                                                      clock: Clock):
    settings = {"record_max_age_hours": 24 * 60}
    hui = await federation.start(HUI, **settings)
    node = await federation.start(HAISHU, GERZE, **settings)
    haishu, gerze = await _key(node, HAISHU), await _key(node, GERZE)
    first = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    tibet = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, 2))
    check = await node.client.send(message(MessageType.PREGNANCY_CHECK, HAISHU, HUI, 3))
    await eventually(lambda: _view(hui, check, obligation=bool), what="the pregnancy check at 徽县")
    for record in (first, tibet):
        await eventually(lambda r=record: _view(node, r, obligation=bool), what=f"{record} at the node")

    clock.to(datetime(2026, 11, 2, 10, 0, tzinfo=CST))  # Monday
    second = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 4))
    request = await hui.client.ask_clarification(check, {"reason": "missing_field", "question": "请补充检查机构"})
    await eventually(lambda: _view(node, second, obligation=bool), what="the second record at 海曙区")
    await eventually(lambda: _view(node, request), what="the clarification request at 海曙区")

    # Each county's key: its own items only, soonest due first; the request due three working days after Monday.
    assert await _todo(node, haishu) == [
        ("clarification", request, "2026-11-06T00:00:00+08:00", "on_time"),
        ("feedback", first, "2026-11-07T00:00:00+08:00", "on_time"),
        ("feedback", second, "2026-11-10T00:00:00+08:00", "on_time")]
    assert await _todo(node, gerze) == [("feedback", tibet, "2026-11-07T00:00:00+08:00", "on_time")]
    both = await _todo(node, {})  # the node's local system acts for both counties
    assert {i[1] for i in both} == {request, first, second, tibet}
    assert [i[2] for i in both] == sorted(i[2] for i in both)
    other = await node.http.get("/v1/worklist", params={"county": GERZE}, headers=haishu)
    assert (other.status_code, other.json()["type"]) == (403, "urn:mpx:problem:not_your_county")
    [item] = (await node.http.get("/v1/worklist", params={"kind": "clarification"}, headers=haishu)).json()["items"]
    assert (item["record_id"], item["sender"], item["county"], item["next"]["zh"], item["next"]["href"]) == (
        check, HUI, HAISHU, "补充说明", f"/v1/messages/{request}/clarification?sender={HUI}")
    assert "data" not in item and "person" not in str(item)

    # Thursday: the answer is due tonight; Friday: it is overdue and the first record due tonight.
    clock.to(datetime(2026, 11, 5, 9, 0, tzinfo=CST))
    assert [i[3] for i in await _todo(node, haishu)] == ["due_today", "on_time", "on_time"]
    clock.to(datetime(2026, 11, 6, 9, 0, tzinfo=CST))
    assert [i[3] for i in await _todo(node, haishu)] == ["overdue", "due_today", "on_time"]
    assert await _todo(node, haishu, status="overdue") == [
        ("clarification", request, "2026-11-06T00:00:00+08:00", "overdue")]
    assert await _todo(node, haishu, urgency="urgent") == []  # no verification request yet

    # 海曙区 answers the request, late, and feeds back on the first record: both leave its list; asking about the
    # second pauses its clock, and it waits for 徽县's clarification.
    await node.client.clarify(request, {"answer": "检查机构为海曙区妇幼保健院"})
    await node.client.answer(first, {"status": "confirmed", "handled_on": "2026-11-06"})
    await node.client.ask_clarification(second, {"reason": "other", "question": "请核对现居住地"})
    assert await _todo(node, haishu) == [("feedback", second, "2026-11-10T00:00:00+08:00", "waiting")]
    assert await _todo(node, gerze) == [("feedback", tibet, "2026-11-07T00:00:00+08:00", "due_today")]

    # The thread of the pregnancy check, at 海曙区: who did what when, and the answer late.
    thread = (await node.client.message(check))["thread"]
    assert [(s["kind"], s["county"]) for s in thread] == [
        ("sent", HAISHU), ("delivered", HUI), ("clarification_requested", HUI), ("clarified", HAISHU)]
    assert thread[0]["principal"] and "principal" not in thread[2]
    assert (thread[2]["due_at"], thread[2]["status"]) == ("2026-11-06T00:00:00+08:00", "answered_late")
    # …and at 徽县, once the answer is there.
    view = await eventually(lambda: _view(hui, check, thread=lambda t: t and t[-1]["kind"] == "clarified"),
                            what="the clarification at 徽县")
    assert [s["kind"] for s in view["thread"]] == ["sent", "delivered", "clarification_requested", "clarified"]


async def test_the_list_as_csv_and_excel_and_bad_filters(federation: Federation, clock: Clock):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    record = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    await eventually(lambda: _view(haishu, record, obligation=bool), what="the record at 海曙区")

    table = await haishu.http.get("/v1/worklist", params={"format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert rows[0] == HEADINGS
    assert rows[1][:4] == ["反馈 feedback", "未到期 on time", "2026-11-07T00:00:00+08:00", record]
    assert rows[1][9:] == ["反馈 send feedback", f"POST /v1/messages/{record}/feedback?sender={HUI}"]
    asked = await haishu.http.get("/v1/worklist", headers={"Accept": "text/csv"})
    assert asked.content == table.content

    excel = await haishu.http.get("/v1/worklist", params={"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(excel.content)).active
    assert [c.value for c in sheet[1]] == HEADINGS
    assert [c.value for c in sheet[2]][:4] == ["反馈 feedback", "未到期 on time", "2026-11-07T00:00:00+08:00", record]

    for name, value in (("kind", "chores"), ("status", "late"), ("urgency", "whenever"), ("format", "pdf"),
                        ("cursor", "nonsense")):
        refused = await haishu.http.get("/v1/worklist", params={name: value})
        problem = refused.json()
        assert (refused.status_code, problem["type"]) == (422, "urn:mpx:problem:validation_failed"), name
        assert problem["title_zh"] and problem["title"] and problem["detail_zh"] and problem["detail"]
        [error] = problem["errors"]
        assert error["field"] == f"query/{name}" and error["message_zh"] and error["message"]
        assert value not in str(problem)  # the value given is never repeated
