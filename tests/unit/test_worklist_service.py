"""A county's to-do list (待办) and a record's thread, over a real SQLite database and the real sending service.

海曙区 (330203) and 改则县 (542526) are served by one node. From 徽县 (621227) 海曙区 received a pregnancy check on
Friday 30 October 2026 (feedback due 24:00 Friday 6 November) and an outflow registration on Monday 2 November
(due 24:00 Monday 9 November); 改则县 received one on Monday too. 海曙区 sent 徽县 a birth on Friday 30 October, and
徽县's clarification request about it arrived on Monday 2 November at 10:00: 海曙区's answer is due 24:00 Thursday
5 November (three working days after the day it arrived, on 海曙区's calendar).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from contracts import MessageType
from contracts.examples import example_payload
from contracts.payloads.verification import Urgency
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import NullMetrics
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.tables import obligations, outbox
from exchange.adapters.unit_of_work import Outbox, SqlUnitOfWork
from exchange.config import Settings
from exchange.domain import AgreementBook, CalendarBook
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.clock import set_clock
from exchange.domain.commands import ClarificationIn, ClarificationRequestIn, FeedbackIn, MessageIn, WithdrawalIn
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.message import Outgoing, new_envelope
from exchange.domain.principals import Principal, Role
from exchange.domain.problems import Problem
from exchange.domain.worklist import AnswerDeadline, Kind, LiveStatus
from exchange.service.obligations import Obligations
from exchange.service.queries import Queries
from exchange.service.sending import Outbound
from exchange.service.worklist import ClarificationItems, FeedbackItems, Worklist

HUI, HAISHU, GERZE = "621227", "330203", "542526"
FRIDAY = datetime(2026, 10, 30, 10, 0, tzinfo=CST)
MONDAY = datetime(2026, 11, 2, 10, 0, tzinfo=CST)
SYSTEM = "key:haishu-system"


class Node:
    """海曙区's and 改则县's node: its database, sending service, to-do lists and reads."""

    def __init__(self, url: str, calendars: CalendarBook):
        self.engine = create_engine(url)
        self.trust = Trust(self.engine, PayloadCipher.from_setting(""), [HAISHU, GERZE])
        for county in (HAISHU, GERZE):  # vouches for the counties' obligations to the monitor
            self.trust.ring.add_signing(SigningKey.generate(county, f"{county}-1", datetime(2026, 1, 1, tzinfo=CST)))
        outbox_ = Outbox(TopicScheme("t", 8), self.trust, "node")
        self.uow = lambda: SqlUnitOfWork(self.engine, outbox_, NullMetrics())
        self.obligations = Obligations(AgreementBook(), calendars, b"k")
        self.outbound = Outbound(Settings(counties=f"{HAISHU},{GERZE}", node_id="node"), self.uow,
                                 self.obligations, self.trust, _admit, lambda: None)
        deadline = AnswerDeadline(calendars, 3)
        self.worklist = Worklist(self.engine, [FeedbackItems(), ClarificationItems(deadline)])
        self.queries = Queries(self.engine, frozenset({HAISHU, GERZE}), self.trust, self.obligations, deadline)

    async def receive(self, message_type: MessageType, receiver: str, message_id: str, at: datetime,
                      in_reply_to: str | None = None, data: dict | None = None) -> None:
        """What the consumer stores for a message from 徽县: the message and, for a record, its obligation."""
        envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=HUI, receiver=receiver,
                                now=at, message_id=message_id, in_reply_to=in_reply_to)
        data = data if data is not None else example_payload(message_type, seed=len(message_id),
                                                              registration_region=HUI, residence_region=receiver)
        async with self.uow() as uow:
            await uow.messages.add([Outgoing(envelope, data, uuid.uuid4().hex).message_row(
                Direction.IN, DeliveryState.DELIVERED, at, self.trust.seal_payload)])
            if in_reply_to is None:
                await self.obligations.open_many(uow, [(envelope, data)], at)

    async def items(self, county: str = HAISHU, **filters) -> list[tuple[str, str, str]]:  # noqa: ANN003
        page = await self.worklist.page(counties=[county], kind=filters.get("kind"), status=filters.get("status"),
                                        urgency=filters.get("urgency"), cursor=None, limit=100,
                                        now=clock["at"])
        return [(i["kind"], i["message_id"], i["status"]) for i in page["items"]]


async def _admit(conn, adding: int) -> None:  # noqa: ANN001
    return None


clock: dict[str, datetime] = {}


@pytest.fixture
async def node(tmp_path):
    clock["at"] = FRIDAY
    set_clock(lambda: clock["at"])
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    node = Node(url, CalendarBook.default())
    await node.receive(MessageType.PREGNANCY_CHECK, HAISHU, "check-0", FRIDAY)
    [birth] = await node.outbound.submit([MessageIn(
        id="birth-1", type="birth", sender=HAISHU, receiver=HUI,
        data=example_payload(MessageType.BIRTH, seed=3, registration_region=HUI, residence_region=HAISHU))],
        principal=SYSTEM)
    clock["at"] = MONDAY
    await node.receive(MessageType.OUTFLOW_REGISTRATION, HAISHU, "left-1", MONDAY)
    await node.receive(MessageType.OUTFLOW_REGISTRATION, GERZE, "left-2", MONDAY)
    await node.receive(MessageType.CLARIFICATION_REQUEST, HAISHU, "ask-1", MONDAY, in_reply_to=birth,
                       data={"reason": "missing_field", "question": "请补充出生医学证明编号"})
    yield node
    set_clock(None)
    await node.engine.dispose()


async def test_the_list_is_soonest_due_first_with_only_the_counties_asked_for(node):
    assert await node.items() == [("clarification", "ask-1", "on_time"), ("feedback", "check-0", "on_time"),
                                  ("feedback", "left-1", "on_time")]
    assert await node.items(GERZE) == [("feedback", "left-2", "on_time")]


async def test_an_item_says_when_it_is_due_what_to_do_next_and_where_and_nothing_personal(node):
    page = await node.worklist.page(counties=[HAISHU], kind=None, status=None, urgency=None, cursor=None, limit=10,
                                    now=MONDAY)
    ask, check, _ = page["items"]
    assert ask == {
        "kind": "clarification", "kind_label": "补充说明 clarification", "message_id": "ask-1", "record_id": "birth-1",
        "sender": HUI, "receiver": HAISHU, "county": HAISHU, "message_type": "clarification_request",
        "received_at": "2026-11-02T02:00:00+00:00", "due_at": "2026-11-06T00:00:00+08:00", "provisional": False,
        "status": "on_time", "status_label": "未到期 on time", "urgency": None,
        "next": {"action": "answer_clarification", "zh": "补充说明", "en": "answer the clarification request",
                 "method": "POST", "href": f"/v1/messages/ask-1/clarification?sender={HUI}"}}
    assert check["due_at"] == "2026-11-07T00:00:00+08:00" and check["next"]["zh"] == "反馈"
    assert check["next"]["href"] == f"/v1/messages/check-0/feedback?sender={HUI}"
    assert "data" not in check and "person" not in str(page)


async def test_statuses_move_to_due_today_and_overdue_as_the_clock_moves(node):
    clock["at"] = datetime(2026, 11, 5, 9, 0, tzinfo=CST)  # Thursday: the answer is due tonight
    assert await node.items() == [("clarification", "ask-1", "due_today"), ("feedback", "check-0", "on_time"),
                                  ("feedback", "left-1", "on_time")]
    clock["at"] = datetime(2026, 11, 6, 0, 0, tzinfo=CST)  # 24:00 Thursday exactly: still on time
    assert (await node.items())[0] == ("clarification", "ask-1", "due_today")
    clock["at"] = datetime(2026, 11, 6, 9, 0, tzinfo=CST)  # Friday
    assert await node.items() == [("clarification", "ask-1", "overdue"), ("feedback", "check-0", "due_today"),
                                  ("feedback", "left-1", "on_time")]
    assert await node.items(status=LiveStatus.OVERDUE) == [("clarification", "ask-1", "overdue")]
    assert await node.items(status=LiveStatus.DUE_TODAY) == [("feedback", "check-0", "due_today")]
    assert await node.items(status=LiveStatus.ON_TIME) == [("feedback", "left-1", "on_time")]
    assert await node.items(kind=Kind.FEEDBACK, status=LiveStatus.OVERDUE) == []


async def test_a_record_paused_for_clarification_waits_and_answered_records_leave(node):
    await node.outbound.request_clarification("left-1", ClarificationRequestIn(data={"reason": "other",
                                                                                     "question": "?"}))
    await node.outbound.answer("check-0", FeedbackIn(data=example_payload(MessageType.FEEDBACK)))
    page = await node.worklist.page(counties=[HAISHU], kind=Kind.FEEDBACK, status=None, urgency=None, cursor=None,
                                    limit=10, now=MONDAY)
    [waiting] = page["items"]
    assert (waiting["message_id"], waiting["status"], waiting["status_label"]) == (
        "left-1", "waiting", "等待补充说明 waiting for clarification")
    assert (waiting["next"]["action"], waiting["next"]["method"]) == ("await_clarification", "GET")
    clock["at"] = datetime(2026, 11, 20, 9, 0, tzinfo=CST)  # long past its old deadline: paused, never overdue
    assert await node.items(status=LiveStatus.WAITING) == [("feedback", "left-1", "waiting")]


async def test_the_answer_to_a_clarification_request_leaves_the_list_and_opens_no_obligation(node):
    async with node.engine.connect() as conn:
        before = (await conn.scalar(select(func.count()).select_from(obligations)),
                  await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.topic.like("%monitor%"))))
    await node.outbound.clarify("ask-1", ClarificationIn(data={"answer": "编号已补充"}), sender=HUI)
    assert await node.items(kind=Kind.CLARIFICATION) == []
    async with node.engine.connect() as conn:  # the sender's deadline counts in no figure of the monitor
        assert before == (await conn.scalar(select(func.count()).select_from(obligations)),
                          await conn.scalar(select(func.count()).select_from(outbox).where(
                              outbox.c.topic.like("%monitor%"))))


async def test_the_answer_is_due_on_the_senders_calendar(tmp_path):
    clock["at"] = MONDAY
    set_clock(lambda: clock["at"])
    calendars = CalendarBook.default()
    calendars.add_override(HAISHU, datetime(2026, 11, 4).date(), "holiday", "a local holiday")
    deadline = AnswerDeadline(calendars, 3)
    assert deadline.due(HAISHU, MONDAY).due_at == datetime(2026, 11, 7, 0, 0, tzinfo=CST)  # Tue, Thu, Fri
    assert deadline.due(GERZE, MONDAY).due_at == datetime(2026, 11, 6, 0, 0, tzinfo=CST)  # Tue, Wed, Thu
    set_clock(None)


async def test_pages_follow_the_cursor_without_overlap_or_gap(node):
    await node.receive(MessageType.OUTFLOW_REGISTRATION, HAISHU, "left-3", MONDAY)  # due with left-1
    seen, cursor = [], None
    while True:
        page = await node.worklist.page(counties=[HAISHU], kind=None, status=None, urgency=None, cursor=cursor,
                                        limit=1, now=MONDAY)
        seen += [i["message_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == ["ask-1", "check-0", "left-1", "left-3"]


async def test_urgency_is_for_verification_requests_and_a_bad_cursor_is_refused(node):
    assert await node.items(urgency=Urgency.URGENT) == []
    with pytest.raises(Problem) as bad:
        await node.worklist.page(counties=[HAISHU], kind=None, status=None, urgency=None, cursor="not-a-cursor",
                                 limit=1, now=MONDAY)
    assert (bad.value.code, bad.value.status) == ("invalid_cursor", 400)


async def test_the_thread_tells_who_did_what_when(node):
    await node.outbound.clarify("ask-1", ClarificationIn(data={"answer": "编号已补充"}), sender=HUI,
                                principal=None)
    await node.receive(MessageType.FEEDBACK, HAISHU, "fb-1", datetime(2026, 11, 3, 10, 0, tzinfo=CST),
                       in_reply_to="birth-1", data=example_payload(MessageType.FEEDBACK))
    view = await node.queries.message("birth-1", [HAISHU])
    assert [(s["kind"], s["county"], s["message_id"]) for s in view["thread"]] == [
        ("sent", HAISHU, "birth-1"),
        ("clarification_requested", HUI, "ask-1"),
        ("clarified", HAISHU, view["clarifications"][0]["answer"]["id"]),
        ("feedback", HUI, "fb-1"),
    ]
    sent, asked, _, _ = view["thread"]
    assert sent["principal"] == SYSTEM and "principal" not in asked
    assert (asked["due_at"], asked["status"]) == ("2026-11-06T00:00:00+08:00", "answered_on_time")
    assert [s["label"] for s in view["thread"]][:2] == ["发出 sent", "请求补充说明 clarification requested"]


async def test_a_request_about_a_record_withdrawn_meanwhile_leaves_the_list(node):
    await node.outbound.withdraw("birth-1", WithdrawalIn(data={"reason": "sent_in_error"}), sender=HAISHU)
    assert await node.items(kind=Kind.CLARIFICATION) == []


async def test_the_thread_of_a_record_received_shows_its_feedback_and_amendment_and_who_gave_them(node):
    clock["at"] = datetime(2026, 11, 3, 10, 0, tzinfo=CST)
    first = await node.outbound.answer("left-1", FeedbackIn(data=example_payload(MessageType.FEEDBACK)),
                                       principal=Principal(SYSTEM, Role.COUNTY_SYSTEM, frozenset({HAISHU})))
    clock["at"] = datetime(2026, 11, 4, 10, 0, tzinfo=CST)
    amended = await node.outbound.answer("left-1", FeedbackIn(data=example_payload(MessageType.FEEDBACK, seed=2)))
    thread = (await node.queries.message("left-1", [HAISHU]))["thread"]
    assert [(s["kind"], s["county"], s["message_id"], s["at"]) for s in thread] == [
        ("sent", HUI, "left-1", "2026-11-02T02:00:00+00:00"),
        ("delivered", HAISHU, "left-1", "2026-11-02T02:00:00+00:00"),
        ("feedback", HAISHU, first, "2026-11-03T02:00:00+00:00"),
        ("amendment", HAISHU, amended, "2026-11-04T02:00:00+00:00")]
    assert thread[2]["principal"] == SYSTEM and "principal" not in thread[0]


async def test_the_thread_of_a_record_withdrawn_ends_with_its_withdrawal(node):
    await node.outbound.withdraw("birth-1", WithdrawalIn(data={"reason": "wrong_person"}),
                                 principal=Principal(SYSTEM, Role.COUNTY_SYSTEM, frozenset({HAISHU})))
    thread = (await node.queries.message("birth-1", [HAISHU]))["thread"]
    assert [(s["kind"], s["county"]) for s in thread] == [("sent", HAISHU), ("clarification_requested", HUI),
                                                          ("withdrawn", HAISHU)]
    assert thread[-1]["principal"] == SYSTEM and "status" not in thread[1]  # the answer is moot now
