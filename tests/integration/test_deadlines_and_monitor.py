"""Three county nodes and a provincial monitor on real Kafka: deadlines, answers, overdue, as computed by hand.

The clock is moved by the test (all nodes share the process's clock, as real
nodes share the wall time). Week of Monday 2 November 2026, no holiday in it:
a record received on Monday is due at 24:00 on Monday 9 November (Tue, Wed,
Thu, Fri, Mon are the five working days after the receipt day).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import openpyxl
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import MessageType
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.clock import set_clock
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message

ADMIN = "test-admin-token"


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def to(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock():
    travel = Clock(datetime(2026, 11, 2, 10, 0, tzinfo=CST))
    set_clock(lambda: travel.now)
    yield travel
    set_clock(None)


def answer_on(day: str, status: str = "confirmed") -> dict:
    return {"status": status, "handled_on": day}


async def test_timeliness_as_computed_by_hand(federation: Federation, clock: Clock):
    # The clock jumps days ahead while records are still in flight: no record is too old for that here.
    settings = {"admin_token": ADMIN, "reminder_interval_seconds": 0.3, "record_max_age_hours": 24 * 60}
    hui = await federation.start(HUI, **settings)
    gerze = await federation.start(GERZE, **settings)
    haishu = await federation.start(HAISHU, **settings)
    zhejiang = await federation.start_monitor("33")

    # An agreement between Zhejiang and Gansu: births answered within 10 working days,
    # and notified by the residence county within 3 working days of the birth.
    agreement = {"id": "zj-gs-2026", "version": 1, "name": "浙甘流动人口服务管理协作协议",
                 "parties": ["330000", "620000"], "effective_from": "2026-01-01",
                 "feedback_deadlines": {"birth": 10}, "sender_deadlines": {"birth": 3}}
    response = await hui.http.post("/v1/agreements", json=agreement, headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 202, response.text
    for node in (hui, gerze, haishu):  # every node learns it from the agreements topic
        await eventually(lambda n=node: _knows(n, "zj-gs-2026"), what="the agreement on every node")

    # Monday 2 November, 10:00: records go out.
    a = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    b = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2))
    c = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3))
    d = await gerze.client.send(message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 4))
    outflow_f = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 5)
    f = await hui.client.send(outflow_f)
    birth = message(MessageType.BIRTH, HAISHU, HUI, 6)
    birth["data"]["child"]["birth_date"] = "2026-10-26"  # notified a week later: 3 working days were allowed
    e = await haishu.client.send(birth)
    for node, ids in ((haishu, [a, b, c, d, f]), (hui, [e])):
        for message_id in ids:
            await eventually(lambda n=node, m=message_id: _obligation(n, m), what=f"obligation for {message_id}")

    view = await haishu.client.message(a)
    assert view["obligation"]["due_at"] == "2026-11-10T00:00:00+08:00"  # 24:00 on Monday 9 November
    assert view["obligation"]["agreement_id"] == "default" and view["obligation"]["status"] == "open"
    birth_duty = (await hui.client.message(e))["obligation"]
    assert birth_duty["agreement_id"] == "zj-gs-2026"
    assert birth_duty["due_at"] == "2026-11-17T00:00:00+08:00"  # 10 working days after Monday 2 November
    assert birth_duty["sender_side"]["late"] is True  # due 24:00 Thursday 29 October, sent 2 November

    # Tuesday 3 November: Hui County answers the birth. Wednesday 4 November: Haishu answers A,
    # and Hui County reports the person of F came home, which cancels F.
    clock.to(datetime(2026, 11, 3, 15, 0, tzinfo=CST))
    await hui.client.answer(e, answer_on("2026-11-03"))
    clock.to(datetime(2026, 11, 4, 9, 30, tzinfo=CST))
    await haishu.client.answer(a, answer_on("2026-11-04"))
    home = message(MessageType.RETURN_CANCELLATION, HUI, HAISHU, 7)
    home["data"]["person"] = outflow_f["data"]["person"]
    home["data"].pop("outflow_message_id")  # matched by the person, not by the id
    g = await hui.client.send(home)
    await eventually(lambda: _status(haishu, f, "cancelled"), what="F cancelled by the return")
    # Thursday 5 November: Haishu answers Gêrzê's D. Tuesday 10 November: B, a day late.
    clock.to(datetime(2026, 11, 5, 11, 0, tzinfo=CST))
    await haishu.client.answer(d, answer_on("2026-11-05"))
    clock.to(datetime(2026, 11, 10, 9, 0, tzinfo=CST))
    await haishu.client.answer(b, answer_on("2026-11-10"))
    await haishu.client.answer(b, answer_on("2026-11-10", "received"))  # an amendment moves nothing

    # By hand, for Zhejiang as receiver, deadlines in November, as of Tuesday 10 November 09:00:
    # A on time (2 working days), D on time (3), B late (6), C overdue, G (due 11 November) open, F cancelled.
    expected = {"due": 5, "answered": 3, "answered_on_time": 2, "answered_late": 1, "overdue_open": 1,
                "open_not_due": 1, "cancelled": 1, "feedback_rate": 0.6, "on_time_rate": 0.4,
                "median_response_working_days": 3, "p90_response_working_days": 6}

    async def figures():
        response = await zhejiang.get("/v1/monitor/timeliness", params={"from": "2026-11-01", "to": "2026-12-01"})
        body = response.json()
        got = {k: v for k, v in body["total"].items() if k in expected}
        return body if got == expected else None

    body = await eventually(figures, what="the monitor's figures to match the hand count")
    assert [g["group"] for g in body["groups"]] == [HAISHU]  # Hui County's own obligation is Gansu's business
    assert body["groups"][0]["name"] == "海曙区"
    assert "deadline" in body["cohort"] and body["as_of"].startswith("2026-11-10T01:00:00")
    # November is still running: its headline is what can be judged already. A, B, C, D were due at 24:00 on
    # 9 November (A and D answered on time, B late, C overdue); G is due on 11 November, not yet due.
    assert (body["period_ended"], body["headline"]) == (False, "assessable")
    assert {"cohort", "assessable", "not_yet_due", "headline"} <= body["definitions"].keys()
    assert {k: v for k, v in body["total"].items() if k.startswith(("assessable", "not_yet", "headline"))} == {
        "assessable_due": 4, "assessable_answered": 3, "assessable_answered_on_time": 2,
        "assessable_answered_late": 1, "assessable_feedback_rate": 0.75, "assessable_on_time_rate": 0.5,
        "not_yet_due": 1, "not_yet_due_answered": 0, "headline_feedback_rate": 0.75, "headline_on_time_rate": 0.5}
    october = (await zhejiang.get("/v1/monitor/timeliness", params={"from": "2026-10-01", "to": "2026-11-01"})).json()
    assert (october["period_ended"], october["headline"], october["total"]["due"]) == (True, "cohort", 0)
    by_province = (await zhejiang.get("/v1/monitor/timeliness", params={
        "from": "2026-11-01", "to": "2026-12-01", "group_by": "province"})).json()
    assert by_province["groups"][0]["group"] == "330000" and by_province["groups"][0]["due"] == 5
    by_type = (await zhejiang.get("/v1/monitor/timeliness", params={
        "from": "2026-11-01", "to": "2026-12-01", "group_by": "type"})).json()
    assert {grp["group"]: grp["due"] for grp in by_type["groups"]} == {"outflow_registration": 4,
                                                                      "return_cancellation": 1}

    sender_side = (await zhejiang.get("/v1/monitor/timeliness", params={
        "from": "2026-10-01", "to": "2026-11-01", "side": "sender"})).json()
    assert sender_side["total"] == {"due": 1, "sent_on_time": 0, "sent_late": 1, "on_time_rate": 0.0}

    overdue = (await zhejiang.get("/v1/monitor/overdue")).json()
    assert [(i["message_id"], i["receiver"], i["due_day"], i["working_days_overdue"]) for i in overdue["items"]] \
        == [(c, HAISHU, "2026-11-09", 1)]

    table = list(csv.reader(io.StringIO((await zhejiang.get(
        "/v1/monitor/overdue", params={"format": "csv"})).content.decode("utf-8-sig"))))
    assert table[0][0] == "报文编号 message id" and table[1][0] == c
    sheet = openpyxl.load_workbook(io.BytesIO((await zhejiang.get("/v1/monitor/timeliness", params={
        "from": "2026-11-01", "to": "2026-12-01", "format": "xlsx"})).content)).active
    assert sheet["A1"].value == "分组 group" and sheet["A2"].value == HAISHU and sheet["C2"].value == 5

    # Haishu saw C coming: every reminder up to the breach was emitted, once.
    reminders = await eventually(lambda: _reminders(haishu, c, 4), what="reminders for C")
    assert sorted(r["kind"] for r in reminders) == ["breach", "half", "last_day", "three_quarters"]
    assert [v["message_id"] for v in (await haishu.http.get("/v1/obligations", params={"status": "overdue"})
                                      ).json()["items"]] == [c]

    # Nothing personal ever reached the monitor: not in any answer, not on the monitoring topic.
    personal = _personal_values([m for m in (outflow_f, birth, home)])
    answers = [
        (await zhejiang.get(path, params=params)).content
        for path, params in [
            ("/v1/monitor/timeliness", {"from": "2026-10-01", "to": "2026-12-01"}),
            ("/v1/monitor/timeliness", {"from": "2026-10-01", "to": "2026-12-01", "side": "sender"}),
            ("/v1/monitor/overdue", {}),
            ("/v1/monitor/overdue", {"format": "csv"}),
        ]
    ]
    answers.append(_xlsx_text((await zhejiang.get("/v1/monitor/overdue", params={"format": "xlsx"})).content))
    answers += await _topic_values(federation, federation.prefix + ".monitor")
    answers += await _topic_values(federation, federation.prefix + ".reminders")
    for blob in answers:
        text = blob.decode("utf-8", errors="replace") if isinstance(blob, bytes) else blob
        assert not re.search(r"\b\d{17}[\dX]\b", text), "an ID number left the counties"
        for value in personal:
            assert value not in text
    print(f"monitor: {expected}; overdue {[c]}; reminders {len(reminders)}; scanned {len(answers)} blobs")


def _personal_values(messages: list[dict]) -> set[str]:
    found: set[str] = set()

    def walk(value, key=""):  # noqa: ANN001
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key in {"name", "id_number", "phone", "registration_address", "destination_address"} and value:
            found.add(str(value))

    for m in messages:
        walk(m["data"])
    return found


def _xlsx_text(content: bytes) -> str:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return " ".join(str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value is not None)


async def _topic_values(federation: Federation, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=federation.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000, max_records=10000)
        values = [m.value for records in batches.values() for m in records]
        assert values, f"nothing on {topic}"
        return values
    finally:
        await consumer.stop()


async def _knows(node, agreement_id: str) -> bool:  # noqa: ANN001
    return any(a["id"] == agreement_id for a in (await node.http.get("/v1/agreements")).json())


async def _obligation(node, message_id: str):  # noqa: ANN001
    try:
        return (await node.client.message(message_id))["obligation"]
    except Exception:  # noqa: BLE001 - not there yet
        return None


async def _status(node, message_id: str, status: str) -> bool:  # noqa: ANN001
    obligation = await _obligation(node, message_id)
    return bool(obligation and obligation["status"] == status)


async def _reminders(node, message_id: str, count: int):  # noqa: ANN001
    items = [r for r in (await node.http.get("/v1/reminders")).json() if r["message_id"] == message_id]
    return items if len(items) >= count else None


_ = orjson
