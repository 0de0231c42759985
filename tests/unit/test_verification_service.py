"""Verification requests (协查) over a fake unit of work: 徽县 asks 海曙区 to verify a woman's pregnancy (urgent:
15 calendar days); 海曙区 works it in order, matched (配对) → verified (核实) → answered (协查反馈), each step a message
back to 徽县, and the answer stops the clock. A step out of order, or again, is refused and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import MessageType
from contracts.examples import example_payload
from exchange.domain.commands import ClarificationRequestIn, FeedbackIn, VerificationStepIn
from exchange.domain.events import ObligationChanged
from exchange.domain.message import new_envelope
from exchange.domain.problems import Problem
from exchange.domain.verification import step_id
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.test_clarification_service import HAISHU, HUI, MONDAY, clock, haishu_with_record, node  # noqa: F401

MATCHED = {"step": "matched", "found": True}
NOT_FOUND = {"step": "matched", "found": False}
VERIFIED = {"step": "verified", "method": "visit"}
ANSWERED = {"step": "answered", "result": "confirmed", "findings": "经入户核实，孕情属实"}


async def haishu_asked(urgency: str = "urgent", request_id: str = "ask-1"):  # noqa: ANN201
    """海曙区's node, having received 徽县's verification request on MONDAY (its obligation open)."""
    uow = FakeUnitOfWork()
    outbound = node(uow, HAISHU)
    data = example_payload(MessageType.VERIFICATION_REQUEST, seed=0, registration_region=HUI) | {"urgency": urgency}
    envelope = new_envelope(message_type=MessageType.VERIFICATION_REQUEST, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=MONDAY, message_id=request_id)
    uow.messages.receive(HUI, HAISHU, request_id, "verification_request")
    await outbound.obligations.open_many(uow, [(envelope, data)], MONDAY)
    return uow, outbound


async def take(outbound, *steps: dict, request_id: str = "ask-1") -> list[str]:  # noqa: ANN001
    return [await outbound.verification_step(request_id, VerificationStepIn(data=s)) for s in steps]


def obligation(uow: FakeUnitOfWork, request_id: str = "ask-1"):  # noqa: ANN201
    return uow.obligations.kept[(HUI, request_id)].obligation


# Received Monday 2 November (10:00 in China): due at 24:00 of the N-th calendar day after, weekends counted
# (24:00 in China is 16:00 UTC).
@pytest.mark.parametrize(("urgency", "last_day"), [("urgent", (11, 17)), ("expedited", (12, 2)),
                                                   ("certificate_check", (11, 9))])
async def test_a_request_is_due_by_its_urgency_in_calendar_days(urgency, last_day):
    uow, _ = await haishu_asked(urgency)
    ob = obligation(uow)
    assert ob.urgency == urgency and ob.deadline.unit.value == "calendar"
    assert ob.due_at == datetime(2026, *last_day, 16, 0, tzinfo=UTC)


async def test_the_receiver_works_the_request_in_order_and_the_answer_stops_the_clock(clock):
    uow, outbound = await haishu_asked()
    clock["at"] = MONDAY + timedelta(days=3)

    ids = await take(outbound, MATCHED, VERIFIED, ANSWERED)

    sent = [uow.messages.rows[("out", HAISHU, i)] for i in ids]
    assert [(s["type"], s["receiver"], s["in_reply_to"]) for s in sent] == [("verification_step", HUI, "ask-1")] * 3
    assert ids == [step_id(HAISHU, "ask-1", "matched", True), step_id(HAISHU, "ask-1", "verified"),
                   step_id(HAISHU, "ask-1", "answered")]
    ob = obligation(uow)
    assert (ob.answered_at, ob.feedback_id) == (MONDAY + timedelta(days=3), ids[-1])
    assert uow.messages.rows[("in", HUI, "ask-1")]["state"] == "answered"
    assert [e.event for e in uow.events if isinstance(e, ObligationChanged)] == ["opened", "answered"]


async def test_a_person_not_found_on_matching_is_answered_at_once(clock):
    uow, outbound = await haishu_asked()
    await take(outbound, NOT_FOUND, {"step": "answered", "result": "not_found", "findings": "本辖区查无此人"})
    assert obligation(uow).answered_at is not None


@pytest.mark.parametrize(("taken", "refused"), [
    ((), VERIFIED),  # verified before matching
    ((), ANSWERED),  # answered before matching
    ((MATCHED,), ANSWERED),  # found: verify before answering
    ((MATCHED,), NOT_FOUND),  # matched again, with another finding
    ((MATCHED, VERIFIED), VERIFIED),  # verified again
    ((NOT_FOUND, ANSWERED), ANSWERED),  # answered again
])
async def test_a_step_out_of_order_or_again_is_refused_and_changes_nothing(clock, taken, refused):
    uow, outbound = await haishu_asked()
    await take(outbound, *taken)
    rows, events, ob = dict(uow.messages.rows), list(uow.events), obligation(uow)

    with pytest.raises(Problem) as refusal:
        await take(outbound, refused)

    assert (refusal.value.code, refusal.value.status) == ("step_out_of_order", 409)
    assert "协查" in refusal.value.detail_zh and "step" in refusal.value.detail_en
    assert (uow.messages.rows, uow.events, obligation(uow)) == (rows, events, ob)


async def test_steps_only_on_a_verification_request_the_county_received_that_stands(clock):
    uow, outbound = await haishu_with_record("left-1")  # an outflow registration
    with pytest.raises(Problem) as record:
        await take(outbound, MATCHED, request_id="left-1")
    with pytest.raises(Problem) as unknown:
        await take(outbound, MATCHED, request_id="never-sent")
    assert (record.value.code, unknown.value.code, unknown.value.status) == (
        "not_a_verification_request", "message_not_found", 404)

    uow, outbound = await haishu_asked()
    await outbound.obligations.withdrawn(uow, HUI, "ask-1", "withdrawal-1", MONDAY)
    with pytest.raises(Problem) as withdrawn:
        await take(outbound, MATCHED)
    assert withdrawn.value.code == "request_withdrawn"


async def test_a_request_is_answered_by_its_steps_never_with_feedback(clock):
    uow, outbound = await haishu_asked()
    with pytest.raises(Problem) as refusal:
        await outbound.answer("ask-1", FeedbackIn(data=example_payload(MessageType.FEEDBACK)))
    assert refusal.value.code == "not_answerable" and "verification-steps" in refusal.value.detail_en
    assert obligation(uow).answered_at is None


async def test_the_receiver_may_ask_the_requester_to_clarify_and_its_clock_pauses(clock):
    uow, outbound = await haishu_asked()
    await outbound.request_clarification("ask-1", ClarificationRequestIn(
        data={"reason": "person_not_found", "question": "请提供该人员现居住地址"}))
    assert obligation(uow).paused
