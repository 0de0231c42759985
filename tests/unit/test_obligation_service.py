"""The obligations service over a fake unit of work: what a receiving county owes, and what the monitor is told,
as records and feedback arrive. No database: the rules are the domain's; the service only applies them."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import MessageType
from contracts.control import MonitoringEvent
from contracts.examples import example_payload
from exchange.domain import AgreementBook, CalendarBook
from exchange.domain.events import ObligationChanged
from exchange.domain.message import new_envelope
from exchange.domain.obligation import CancelReason
from exchange.domain.returns import person_key
from exchange.service.obligations import Obligations
from tests.unit.fakes import FakeUnitOfWork

HUI, HAISHU = "621227", "330203"  # registration county, residence county
MONDAY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in China
SECRET = b"person-key-secret"


def service() -> Obligations:
    return Obligations(AgreementBook(), CalendarBook.default(), SECRET)


def received(message_type: MessageType, message_id: str, data: dict) -> tuple:
    envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=HUI, receiver=HAISHU,
                            now=MONDAY, message_id=message_id)
    return envelope, data


def left(seed: int) -> dict:
    return example_payload(MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)


def came_home(outflow: dict, seed: int, **extra: str) -> dict:
    back = example_payload(MessageType.RETURN_CANCELLATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)
    return {**back, "person": outflow["person"], **extra}


def announced(uow: FakeUnitOfWork) -> list[tuple[str, str, int]]:
    return [(e.event, e.message_id, e.revision) for e in uow.events if isinstance(e, ObligationChanged)]


async def test_a_received_registration_opens_an_obligation_due_in_five_working_days_and_tells_the_monitor():
    uow = FakeUnitOfWork()
    await service().open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "left-1", left(1))], MONDAY)

    kept = await uow.obligations.get(HUI, "left-1")
    assert kept.obligation.due_at == datetime(2026, 11, 9, 16, 0, tzinfo=UTC)  # 24:00 China, Monday after
    assert kept.person_key == person_key(SECRET, left(1))
    assert announced(uow) == [("opened", "left-1", 1)]
    event = uow.events[0]
    assert event.receiver == HAISHU and "person" not in event.body and "id_number" not in str(event.body)


async def test_a_record_delivered_twice_opens_one_obligation():
    uow, obligations = FakeUnitOfWork(), service()
    record = received(MessageType.BIRTH, "birth-1", example_payload(MessageType.BIRTH, seed=2))
    await obligations.open_many(uow, [record], MONDAY)
    await obligations.open_many(uow, [record], MONDAY)

    assert announced(uow) == [("opened", "birth-1", 1)]


async def test_feedback_answers_the_obligation_and_a_second_feedback_is_an_amendment():
    uow, obligations = FakeUnitOfWork(), service()
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "left-1", left(1))], MONDAY)
    await obligations.answered(uow, HUI, "left-1", "fb-1", datetime(2026, 11, 4, 2, 0, tzinfo=UTC))
    await obligations.answered(uow, HUI, "left-1", "fb-2", datetime(2026, 11, 5, 2, 0, tzinfo=UTC))
    await obligations.answered(uow, HUI, "nothing-like-it", "fb-3", MONDAY)  # no obligation: nothing happens

    kept = await uow.obligations.get(HUI, "left-1")
    assert (kept.obligation.feedback_id, kept.obligation.amendments) == ("fb-1", ("fb-2",))
    assert kept.obligation.response_working_days == 2
    assert announced(uow) == [("opened", "left-1", 1), ("answered", "left-1", 2), ("answered", "left-1", 3)]


async def test_coming_home_cancels_the_registration_of_the_same_person_only():
    uow, obligations = FakeUnitOfWork(), service()
    hers, his = left(1), left(2)
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "hers", hers),
                                      received(MessageType.OUTFLOW_REGISTRATION, "his", his)], MONDAY)
    await obligations.open_many(uow, [received(MessageType.RETURN_CANCELLATION, "home", came_home(hers, 3))],
                                datetime(2026, 11, 3, 2, 0, tzinfo=UTC))

    assert (await uow.obligations.get(HUI, "hers")).obligation.cancelled_at is not None
    assert (await uow.obligations.get(HUI, "his")).obligation.cancelled_at is None
    assert ("cancelled", "hers", 2) in announced(uow)


async def test_a_cancellation_naming_its_registration_cancels_that_one_without_a_person_key():
    uow, obligations = FakeUnitOfWork(), service()
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "hers", left(1))], MONDAY)
    back = {**came_home(left(5), 3), "outflow_message_id": "hers"}  # another ID number, but it names "hers"
    await obligations.open_many(uow, [received(MessageType.RETURN_CANCELLATION, "home", back)], MONDAY)

    assert (await uow.obligations.get(HUI, "hers")).obligation.cancelled_at is not None


async def test_who_came_home_and_left_again_in_one_batch_keeps_the_new_registration_open():
    uow, obligations = FakeUnitOfWork(), service()
    first = left(4)
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "left-in-march", first)], MONDAY)
    await obligations.open_many(uow, [
        received(MessageType.RETURN_CANCELLATION, "home", came_home(first, 4)),
        received(MessageType.OUTFLOW_REGISTRATION, "left-again", {**left(8), "person": first["person"]}),
    ], MONDAY)

    assert (await uow.obligations.get(HUI, "left-in-march")).obligation.cancelled_at is not None
    assert (await uow.obligations.get(HUI, "left-again")).obligation.cancelled_at is None


async def test_a_withdrawn_record_cancels_its_obligation_and_tells_the_monitor_why():
    uow, obligations = FakeUnitOfWork(), service()
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "left-1", left(1))], MONDAY)

    await obligations.withdrawn(uow, HUI, "left-1", "w-1", MONDAY)
    await obligations.withdrawn(uow, HUI, "left-1", "w-1", MONDAY)  # delivered again: nothing more

    ob = (await uow.obligations.get(HUI, "left-1")).obligation
    assert (ob.cancel_reason, ob.cancelled_by, ob.cancelled_at) == (CancelReason.WITHDRAWN, "w-1", MONDAY)
    assert announced(uow) == [("opened", "left-1", 1), ("cancelled", "left-1", 2)]
    assert uow.events[-1].body["cancel_reason"] == "withdrawn"
    assert MonitoringEvent.model_validate(uow.events[-1].body).cancel_reason == "withdrawn"


async def test_a_withdrawal_after_the_answer_changes_nothing():
    uow, obligations = FakeUnitOfWork(), service()
    await obligations.open_many(uow, [received(MessageType.OUTFLOW_REGISTRATION, "left-1", left(1))], MONDAY)
    await obligations.answered(uow, HUI, "left-1", "fb-1", MONDAY)
    before = await uow.obligations.get(HUI, "left-1")

    await obligations.withdrawn(uow, HUI, "left-1", "w-1", MONDAY)
    await obligations.withdrawn(uow, HUI, "never-received", "w-2", MONDAY)

    assert await uow.obligations.get(HUI, "left-1") == before
    assert announced(uow) == [("opened", "left-1", 1), ("answered", "left-1", 2)]
