"""The sending service over a fake unit of work: what a county's local system may send, and what the node records
when it accepts it. No database: these are the rules of sending (idempotency by content, all or nothing, feedback
only to a business message received from the other county)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from contracts import MessageType
from contracts.examples import example_payload
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.trust import Trust
from exchange.config import Settings
from exchange.domain import AgreementBook, CalendarBook
from exchange.adapters.unit_of_work import _entry
from exchange.domain.commands import FeedbackIn, MessageIn, WithdrawalIn
from exchange.domain.events import MessageAccepted, ObligationChanged
from exchange.domain.message import new_envelope, withdrawal_id
from exchange.domain.problems import Problem
from exchange.service.obligations import Obligations
from exchange.service.sending import Outbound
from tests.unit.fakes import FakeUnitOfWork

HUI, HAISHU = "621227", "330203"  # registration county, residence county (this node serves Haishu)
MONDAY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


async def _admit(conn, adding: int) -> None:  # noqa: ANN001 - the outbox always has room here
    return None


def haishu(uow: FakeUnitOfWork) -> Outbound:
    obligations = Obligations(AgreementBook(), CalendarBook.default(), b"k")
    return Outbound(Settings(counties=HAISHU, node_id="haishu"), lambda: uow, obligations,
                    Trust(None, PayloadCipher.from_setting("")), _admit, lambda: None)  # type: ignore[arg-type]


def check(message_id: str = "check-1", seed: int = 1, **fields: str) -> MessageIn:
    data = example_payload(MessageType.PREGNANCY_CHECK, seed=seed, registration_region=HUI, residence_region=HAISHU)
    return MessageIn(**{"id": message_id, "type": "pregnancy_check", "sender": HAISHU, "receiver": HUI, "data": data,
                        **fields})


def accepted(uow: FakeUnitOfWork) -> list[str]:
    return [e.message.id for e in uow.events if isinstance(e, MessageAccepted)]


async def test_an_accepted_message_is_kept_and_recorded_with_who_sent_it():
    uow = FakeUnitOfWork()
    assert await haishu(uow).submit([check()], principal="key:haishu-system") == ["check-1"]

    [event] = [e for e in uow.events if isinstance(e, MessageAccepted)]
    assert (event.principal, event.message.envelope.receiverregion) == ("key:haishu-system", HUI)
    assert uow.messages.rows[("out", HAISHU, "check-1")]["state"] == "accepted"


async def test_posting_the_same_message_again_is_idempotent_but_another_content_under_its_id_is_refused():
    uow = FakeUnitOfWork()
    outbound = haishu(uow)
    await outbound.submit([check()])
    assert await outbound.submit([check()]) == ["check-1"]
    with pytest.raises(Problem) as other:
        await outbound.submit([check(seed=2)])

    assert other.value.code == "duplicate_message_id"
    assert accepted(uow) == ["check-1"]


async def test_a_batch_is_stored_whole_or_not_at_all():
    uow = FakeUnitOfWork()
    with pytest.raises(Problem) as refused:
        await haishu(uow).submit([check("fine"), check("wrong", sender=HUI)])

    assert refused.value.code == "sender_not_served" and "第 1 条报文" in refused.value.detail_zh
    assert uow.events == [] and uow.messages.rows == {}


async def test_feedback_answers_a_record_received_from_the_other_county_and_stops_its_clock():
    uow = FakeUnitOfWork()
    outbound = haishu(uow)
    outflow = example_payload(MessageType.OUTFLOW_REGISTRATION, seed=1, registration_region=HUI,
                              residence_region=HAISHU)
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=MONDAY, message_id="left-1")
    uow.messages.receive(HUI, HAISHU, "left-1", "outflow_registration")
    await outbound.obligations.open_many(uow, [(envelope, outflow)], MONDAY)

    feedback_id = await outbound.answer("left-1", FeedbackIn(id="fb-1", data=example_payload(MessageType.FEEDBACK)))

    assert feedback_id == "fb-1"
    assert uow.messages.rows[("in", HUI, "left-1")]["state"] == "answered"
    assert [(e.event, e.message_id) for e in uow.events if isinstance(e, ObligationChanged)] == [
        ("opened", "left-1"), ("answered", "left-1")]
    sent = uow.messages.rows[("out", HAISHU, "fb-1")]
    assert (sent["receiver"], sent["in_reply_to"], sent["type"]) == (HUI, "left-1", "feedback")


async def test_feedback_only_answers_a_business_message_this_county_received():
    uow = FakeUnitOfWork()
    outbound = haishu(uow)
    uow.messages.receive(HUI, HAISHU, "their-feedback", "feedback")
    answer = example_payload(MessageType.FEEDBACK)

    with pytest.raises(Problem) as unknown:
        await outbound.answer("never-received", FeedbackIn(data=answer))
    with pytest.raises(Problem) as to_feedback:
        await outbound.submit([MessageIn(type="feedback", sender=HAISHU, receiver=HUI,
                                         in_reply_to="their-feedback", data=answer)])

    assert (unknown.value.code, to_feedback.value.code) == ("message_not_found", "not_answerable")
    assert accepted(uow) == []


# -- withdrawal (撤回): the sender of a record withdraws it, once, until it is answered -------------------------

def hui(uow: FakeUnitOfWork) -> Outbound:
    obligations = Obligations(AgreementBook(), CalendarBook.default(), b"k")
    return Outbound(Settings(counties=HUI, node_id="hui"), lambda: uow, obligations,
                    Trust(None, PayloadCipher.from_setting("")), _admit, lambda: None)  # type: ignore[arg-type]


async def _sent_registration(uow: FakeUnitOfWork, message_id: str = "left-1") -> Outbound:
    outbound = hui(uow)
    data = example_payload(MessageType.OUTFLOW_REGISTRATION, seed=1, registration_region=HUI,
                           residence_region=HAISHU)
    await outbound.submit([MessageIn(id=message_id, type="outflow_registration", sender=HUI, receiver=HAISHU,
                                     data=data)])
    return outbound


async def test_the_sender_withdraws_its_record_once_with_a_reason_and_the_record_shows_it():
    uow = FakeUnitOfWork()
    outbound = await _sent_registration(uow)
    body = WithdrawalIn(data={"reason": "wrong_receiver", "remarks": "应发往江北区"})

    first = await outbound.withdraw("left-1", body, principal=None)
    again = await outbound.withdraw("left-1", WithdrawalIn(data={"reason": "other"}))

    assert first == again == withdrawal_id(HUI, "left-1")
    [withdrawal] = [e for e in uow.events if isinstance(e, MessageAccepted) and e.message.id == first]
    env = withdrawal.message.envelope
    assert (env.message_type, env.senderregion, env.receiverregion, env.inreplyto) == (
        MessageType.WITHDRAWAL, HUI, HAISHU, "left-1")
    assert withdrawal.message.data == {"reason": "wrong_receiver", "remarks": "应发往江北区"}
    assert accepted(uow) == ["left-1", first]  # the second withdrawal sent nothing
    assert uow.messages.rows[("out", HUI, "left-1")]["withdrawn_at"] is not None


async def test_the_withdrawal_is_evidence_of_who_withdrew_which_record_and_why():
    uow = FakeUnitOfWork()
    outbound = await _sent_registration(uow)
    await outbound.withdraw("left-1", WithdrawalIn(data={"reason": "duplicate"}))
    [withdrawal] = [e for e in uow.events if isinstance(e, MessageAccepted) and e.message.id != "left-1"]

    entry = _entry(MessageAccepted(withdrawal.message, "key:hui-system"))

    assert (entry["event"], entry["county"], entry["principal"]) == ("withdrawn", HUI, "key:hui-system")
    assert entry["detail"] == {"type": "withdrawal", "receiver": HAISHU, "in_reply_to": "left-1",
                               "reason": "duplicate"}


async def test_a_record_answered_cannot_be_withdrawn_and_nothing_changes():
    uow = FakeUnitOfWork()
    outbound = await _sent_registration(uow)
    uow.messages.rows[("out", HUI, "left-1")].update(state="answered", answered_at=MONDAY)
    before = dict(uow.messages.rows)

    with pytest.raises(Problem) as refused:
        await outbound.withdraw("left-1", WithdrawalIn(data={"reason": "sent_in_error"}))

    assert (refused.value.code, refused.value.status) == ("already_answered", 409)
    body = refused.value.body()
    assert body["title_zh"] and "已" in body["detail_zh"] and "answered" in body["detail"]
    assert uow.messages.rows == before and accepted(uow) == ["left-1"]
    assert uow.messages.rows[("out", HUI, "left-1")].get("withdrawn_at") is None


async def test_only_the_callers_own_records_are_withdrawn():
    uow = FakeUnitOfWork()
    outbound = await _sent_registration(uow)
    uow.messages.receive(HAISHU, HUI, "their-check", "pregnancy_check")  # received, not sent
    await outbound.submit([MessageIn(id="fb-1", type="feedback", sender=HUI, receiver=HAISHU,
                                     in_reply_to="their-check", data=example_payload(MessageType.FEEDBACK))])
    reason = WithdrawalIn(data={"reason": "sent_in_error"})

    codes = []
    for message_id in ("never-sent", "their-check", "fb-1"):
        with pytest.raises(Problem) as refused:
            await outbound.withdraw(message_id, reason)
        codes.append(refused.value.code)
    # another county's key (here one acting for Haishu only) finds no such message of its own
    other = SimpleNamespace(id="key:other", acts_for=lambda county: county == HAISHU)
    with pytest.raises(Problem) as not_theirs:
        await outbound.withdraw("left-1", reason, principal=other)  # type: ignore[arg-type]

    assert codes == ["message_not_found", "message_not_found", "not_withdrawable"]
    assert not_theirs.value.code == "message_not_found"
    assert accepted(uow) == ["left-1", "fb-1"]


async def test_a_withdrawal_needs_a_reason_from_the_list_and_is_not_posted_as_a_message():
    uow = FakeUnitOfWork()
    outbound = await _sent_registration(uow)

    with pytest.raises(Problem) as bad_reason:
        await outbound.withdraw("left-1", WithdrawalIn(data={"reason": "changed_my_mind"}))
    with pytest.raises(Problem) as as_message:
        await outbound.submit([MessageIn(type="withdrawal", sender=HUI, receiver=HAISHU, in_reply_to="left-1",
                                         data={"reason": "other"})])

    assert bad_reason.value.code == "validation_failed"
    assert [e["field"] for e in bad_reason.value.errors] == ["data/reason"]
    assert as_message.value.code == "unknown_message_type"
    assert accepted(uow) == ["left-1"]


async def test_feedback_cannot_answer_a_withdrawal():
    uow = FakeUnitOfWork()
    outbound = haishu(uow)
    uow.messages.receive(HUI, HAISHU, "w-1", "withdrawal")
    with pytest.raises(Problem) as refused:
        await outbound.answer("w-1", FeedbackIn(data=example_payload(MessageType.FEEDBACK)))
    assert refused.value.code == "not_answerable"
