"""Clarification (请求补充说明 / 补充说明) over a fake unit of work: the receiver of a record asks its sender, before
the deadline, and the clock pauses; the sender answers a request it received, once; the clock resumes when the
answer arrives. Refusals change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import MessageType
from contracts.examples import example_payload
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.trust import Trust
from exchange.config import Settings
from exchange.domain import AgreementBook, CalendarBook
from exchange.domain.clock import set_clock
from exchange.domain.commands import ClarificationIn, ClarificationRequestIn, FeedbackIn, MessageIn
from exchange.domain.events import MessageAccepted, ObligationChanged
from exchange.domain.message import clarification_id, new_envelope
from exchange.domain.problems import Problem
from exchange.service.obligations import Obligations
from exchange.service.sending import Outbound
from tests.unit.fakes import FakeUnitOfWork

HUI, HAISHU = "621227", "330203"  # registration county, residence county
MONDAY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in China
ASK = {"reason": "missing_field", "question": "请补充现居住地详细地址"}
ANSWER = {"answer": "现居住地已核实"}


@pytest.fixture
def clock():
    now = {"at": MONDAY}
    set_clock(lambda: now["at"])
    yield now
    set_clock(None)


async def _admit(conn, adding: int) -> None:  # noqa: ANN001
    return None


def node(uow: FakeUnitOfWork, county: str) -> Outbound:
    obligations = Obligations(AgreementBook(), CalendarBook.default(), b"k")
    return Outbound(Settings(counties=county, node_id=county), lambda: uow, obligations,
                    Trust(None, PayloadCipher.from_setting("")), _admit, lambda: None)  # type: ignore[arg-type]


async def haishu_with_record(record_id: str = "left-1") -> tuple[FakeUnitOfWork, Outbound]:
    """海曙区's node, having received 徽县's outflow registration on MONDAY (its obligation open)."""
    uow = FakeUnitOfWork()
    outbound = node(uow, HAISHU)
    data = example_payload(MessageType.OUTFLOW_REGISTRATION, seed=1, registration_region=HUI, residence_region=HAISHU)
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=MONDAY, message_id=record_id)
    uow.messages.receive(HUI, HAISHU, record_id, "outflow_registration")
    await outbound.obligations.open_many(uow, [(envelope, data)], MONDAY)
    return uow, outbound


def announced(uow: FakeUnitOfWork) -> list[str]:
    return [e.event for e in uow.events if isinstance(e, ObligationChanged)]


async def test_the_receiver_asks_before_the_deadline_and_the_clock_pauses_and_the_monitor_is_told(clock):
    uow, outbound = await haishu_with_record()
    clock["at"] = MONDAY + timedelta(days=2)

    request_id = await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))

    sent = uow.messages.rows[("out", HAISHU, request_id)]
    assert (sent["type"], sent["receiver"], sent["in_reply_to"]) == ("clarification_request", HUI, "left-1")
    assert request_id in [e.message.id for e in uow.events if isinstance(e, MessageAccepted)]
    ob = uow.obligations.kept[(HUI, "left-1")].obligation
    assert ob.paused and ob.pauses[-1].request_id == request_id
    assert announced(uow) == ["opened", "paused"]


async def test_a_second_request_waits_for_the_first_answer_and_the_clock_resumes_on_the_answer(clock):
    uow, outbound = await haishu_with_record()
    first = await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))
    with pytest.raises(Problem) as pending:
        await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))
    assert (pending.value.code, pending.value.status) == ("clarification_pending", 409)

    before = uow.obligations.kept[(HUI, "left-1")].obligation.due_at
    await outbound.obligations.resumed(uow, HUI, "left-1", MONDAY + timedelta(days=2))
    ob = uow.obligations.kept[(HUI, "left-1")].obligation
    assert not ob.paused and ob.paused_working_days == 2 and ob.due_at > before
    second = await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))
    assert second != first and len(uow.obligations.kept[(HUI, "left-1")].obligation.pauses) == 2
    assert announced(uow) == ["opened", "paused", "resumed", "paused"]
    # the monitor is told how many times the clock was paused (a pause of no working day leaves no other trace)
    assert [e.body["pause_count"] for e in uow.events if isinstance(e, ObligationChanged)] == [0, 1, 1, 2]


async def test_no_request_after_the_deadline_after_the_answer_or_about_an_unknown_message_and_nothing_changes(clock):
    uow, outbound = await haishu_with_record()
    due = uow.obligations.kept[(HUI, "left-1")].obligation.due_at
    clock["at"] = due + timedelta(minutes=1)
    rows, events = dict(uow.messages.rows), list(uow.events)
    with pytest.raises(Problem) as late:
        await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))
    assert (late.value.code, late.value.status) == ("deadline_passed", 409)
    assert "期限" in late.value.detail_zh

    with pytest.raises(Problem) as unknown:
        await outbound.request_clarification("nope", ClarificationRequestIn(data=ASK))
    assert (unknown.value.code, unknown.value.status) == ("message_not_found", 404)
    assert uow.messages.rows == rows and uow.events == events

    clock["at"] = MONDAY + timedelta(hours=1)
    await outbound.answer("left-1", FeedbackIn(id="fb-1", data=example_payload(MessageType.FEEDBACK)))
    with pytest.raises(Problem) as answered:
        await outbound.request_clarification("left-1", ClarificationRequestIn(data=ASK))
    assert (answered.value.code, answered.value.status) == ("already_answered", 409)


async def test_a_request_needs_a_reason_from_the_list_and_clarifications_are_not_posted_as_messages(clock):
    uow, outbound = await haishu_with_record()
    with pytest.raises(Problem) as bad:
        await outbound.request_clarification("left-1", ClarificationRequestIn(data={"reason": "bored",
                                                                                   "question": "?"}))
    assert bad.value.status == 422
    with pytest.raises(Problem) as posted:
        await outbound.submit([MessageIn(id="c-1", type="clarification_request", sender=HAISHU, receiver=HUI,
                                         in_reply_to="left-1", data=ASK)])
    assert posted.value.status == 422
    assert not uow.obligations.kept[(HUI, "left-1")].obligation.paused


async def test_the_sender_answers_a_request_it_received_once(clock):
    uow = FakeUnitOfWork()
    hui = node(uow, HUI)
    uow.messages.receive(HAISHU, HUI, "req-1", "clarification_request")

    cid = await hui.clarify("req-1", ClarificationIn(data=ANSWER))

    assert cid == clarification_id(HUI, "req-1")
    sent = uow.messages.rows[("out", HUI, cid)]
    assert (sent["type"], sent["receiver"], sent["in_reply_to"]) == ("clarification", HAISHU, "req-1")
    assert uow.messages.rows[("in", HAISHU, "req-1")]["answered_at"] is not None
    with pytest.raises(Problem) as again:
        await hui.clarify("req-1", ClarificationIn(data=ANSWER))
    assert (again.value.code, again.value.status) == ("already_clarified", 409)


async def test_a_clarification_answers_only_a_request_the_callers_county_received(clock):
    uow = FakeUnitOfWork()
    hui = node(uow, HUI)
    uow.messages.receive(HAISHU, HUI, "check-1", "pregnancy_check")
    with pytest.raises(Problem) as not_request:
        await hui.clarify("check-1", ClarificationIn(data=ANSWER))
    assert (not_request.value.code, not_request.value.status) == ("not_a_clarification_request", 409)
    with pytest.raises(Problem) as unknown:
        await hui.clarify("nope", ClarificationIn(data=ANSWER))
    assert (unknown.value.code, unknown.value.status) == ("message_not_found", 404)
    assert uow.events == [] and set(uow.messages.rows) == {("in", HAISHU, "check-1")}
