"""A receiving node stores a whole Kafka batch at once; the outcome must be what storing it record by record gave.

Real SQLite database and the real Inbound service; records are built as a sending node's relay puts them on
the wire (CloudEvents headers, value sealed to Haishu and signed by Hui). No broker: the consumer's part is
handing the batch over.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import MessageType
from contracts.cloudevents import encode_data, to_headers
from contracts.examples import example_payload
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.sealing import SealingKey
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import NullMetrics
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.obligation_repository import from_state
from exchange.adapters.sql.tables import inbox, messages, obligations, outbox, quarantine
from exchange.adapters.unit_of_work import Outbox, SqlUnitOfWork
from exchange.config import Settings
from exchange.domain import AgreementBook, CalendarBook
from exchange.domain.clock import utcnow
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.message import Outgoing, Record, new_envelope
from exchange.service.obligations import Obligations
from exchange.service.receiving import Inbound
from exchange.service.reconciliation import Reconciler
from exchange.service.roster import Rosters
from exchange.service.sending import Outbound

HUI, HAISHU = "621227", "330203"  # registration county, residence county (this node)


T0 = datetime(2026, 1, 1, tzinfo=UTC)
HUI_KEY = SigningKey.generate(HUI, "hui-1", T0)
HAISHU_KEY = SigningKey.generate(HAISHU, "haishu-1", T0)  # vouches for Haishu's obligations to the monitor
HAISHU_SEALING = SealingKey.generate(HAISHU, "haishu-s1", T0)


class Haishu(Inbound):
    """Haishu's receiving side, and the database it keeps."""

    engine: AsyncEngine


@pytest.fixture
async def haishu(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'haishu.db'}"
    await migrate(url)
    settings = Settings(counties=HAISHU, database_url=url, node_id="haishu")
    topics = TopicScheme("t", 8)
    engine = create_engine(url)
    trust = Trust(engine, PayloadCipher.from_setting(""), [HAISHU])
    trust.ring.add_public(HUI_KEY.public_key())
    trust.ring.add_signing(HAISHU_KEY)
    trust.openers[(HAISHU, HAISHU_SEALING.key_id)] = HAISHU_SEALING
    uow = lambda: SqlUnitOfWork(engine, Outbox(topics, trust, "haishu"), NullMetrics())  # noqa: E731
    obligations_ = Obligations(AgreementBook(), CalendarBook.default(), b"k")
    inbound = Haishu(settings, uow, obligations_, trust, Reconciler(settings, uow, topics, lambda: None, "haishu"),
                     _keys_are_current, NullMetrics(), rosters_of(settings, uow, obligations_, trust))
    inbound.engine = engine
    yield inbound
    await engine.dispose()


async def _keys_are_current() -> bool:
    return True


def rosters_of(settings: Settings, uow, obligations_: Obligations, trust: Trust) -> Rosters:  # noqa: ANN001
    """The node's roster check (it answers a roster on receipt), sending through the node's own Outbound."""
    outbound = Outbound(settings, uow, obligations_, trust, _admit_all, lambda: None)
    return Rosters(settings, uow, outbound.compose, trust, lambda: None)


async def _admit_all(conn, adding: int) -> None:  # noqa: ANN001
    return None


class Wire:
    """Records from Hui (or another county's node, with its key) to Haishu, in the order its relay published them."""

    def __init__(self, key: SigningKey = HUI_KEY) -> None:
        self.offset, self.county = 0, key.county
        self.sender = Trust(None, PayloadCipher.from_setting(""))  # type: ignore[arg-type] - signs and seals only
        self.sender.ring.add_signing(key)
        self.sender.sealing.add(HAISHU_SEALING.public_key())

    def record(self, message_type: MessageType, data: dict, message_id: str | None = None,
               in_reply_to: str | None = None) -> Record:
        envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=self.county, receiver=HAISHU,
                                now=utcnow(), message_id=message_id or str(uuid.uuid4()), in_reply_to=in_reply_to)
        self.offset += 1
        headers, value = self.sender.wire(to_headers(envelope), encode_data(data))
        return Record("t.records.33", 3, self.offset, HAISHU, headers, value)


def left_for_haishu(seed: int) -> dict:
    return example_payload(MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)


def came_home(outflow: dict, seed: int) -> dict:
    back = example_payload(MessageType.RETURN_CANCELLATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)
    return {**back, "person": outflow["person"]}


async def states(inbound: Inbound) -> dict[str, str]:
    """Message id -> open / cancelled, for every obligation."""
    async with inbound.engine.connect() as conn:
        rows = (await conn.execute(select(obligations.c.message_id, obligations.c.state))).all()
    return {r.message_id: "cancelled" if from_state(r.state)[0].cancelled_at else "open" for r in rows}


async def count(inbound: Inbound, table) -> int:  # noqa: ANN001
    async with inbound.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table))


async def test_a_person_who_came_home_and_left_again_in_one_batch_keeps_the_new_registration_open(haishu):
    wire = Wire()
    first = left_for_haishu(seed=4)
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, first, "left-in-march")])

    # Next batch: she came home (cancellation), then left for Haishu again (a new outflow registration).
    await haishu.store([
        wire.record(MessageType.RETURN_CANCELLATION, came_home(first, seed=4), "home-for-spring-festival"),
        wire.record(MessageType.OUTFLOW_REGISTRATION, {**left_for_haishu(seed=8), "person": first["person"]},
                    "left-again-after-festival"),
    ])

    assert await states(haishu) == {"left-in-march": "cancelled", "home-for-spring-festival": "open",
                                    "left-again-after-festival": "open"}


async def test_two_cancellations_of_one_registration_in_a_batch_cancel_it_once(haishu):
    wire = Wire()
    outflow = left_for_haishu(seed=5)
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, outflow, "left")])
    await haishu.store([
        wire.record(MessageType.RETURN_CANCELLATION, came_home(outflow, seed=5), "home-1"),
        wire.record(MessageType.RETURN_CANCELLATION, came_home(outflow, seed=6), "home-2"),
    ])

    assert (await states(haishu))["left"] == "cancelled"
    async with haishu.engine.connect() as conn:
        announced = (await conn.execute(select(outbox.c.message_id).where(outbox.c.message_id.like("left#%")))).scalars()
        assert sorted(announced) == ["left#1", "left#2"]  # opened, then cancelled once


async def test_a_batch_with_a_record_twice_and_one_seen_before_stores_each_record_once(haishu):
    wire = Wire()
    birth = example_payload(MessageType.BIRTH, seed=2, registration_region=HUI, residence_region=HAISHU)
    pregnancy = example_payload(MessageType.PREGNANCY_CHECK, seed=3, registration_region=HUI,
                                residence_region=HAISHU)
    seen = wire.record(MessageType.BIRTH, birth, "birth-1")
    await haishu.store([seen])

    again = wire.record(MessageType.PREGNANCY_CHECK, pregnancy, "check-1")
    positions, published = await haishu.store([seen, again, again])

    assert published == 2  # for the pregnancy check: its delivery receipt, and its obligation for the monitor
    assert positions == {("t.records.33", 3): again.offset + 1}
    assert await count(haishu, inbox) == 2
    assert await count(haishu, messages) == 2
    assert set(await states(haishu)) == {"birth-1", "check-1"}
    async with haishu.engine.connect() as conn:
        owed = [orjson.loads(v) for v in (await conn.execute(
            select(outbox.c.value).where(outbox.c.topic.like("%.records.%")))).scalars()]
    assert sorted(r["receiver_node_id"] for r in owed) == ["haishu", "haishu"]


# -- withdrawal (撤回) --------------------------------------------------------------------------------------------

async def withdrawn(inbound: Inbound) -> dict[str, tuple[str | None, bool]]:
    """Message id -> (the obligation's cancel reason, whether the record shows withdrawn_at)."""
    async with inbound.engine.connect() as conn:
        reasons = {r.message_id: from_state(r.state)[0].cancel_reason
                   for r in await conn.execute(select(obligations.c.message_id, obligations.c.state))}
        marks = {r.id: r.withdrawn_at is not None
                 for r in await conn.execute(select(messages.c.id, messages.c.withdrawn_at))}
    return {k: (reasons[k] and reasons[k].value, marks[k]) for k in reasons}


async def test_a_record_and_its_withdrawal_in_one_batch_leave_the_obligation_cancelled_as_withdrawn(haishu):
    wire = Wire()
    await haishu.store([
        wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=1), "sent-in-error"),
        wire.record(MessageType.WITHDRAWAL, {"reason": "sent_in_error"}, "w-1", in_reply_to="sent-in-error"),
        wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=2), "kept"),
    ])

    assert await withdrawn(haishu) == {"sent-in-error": ("withdrawn", True), "kept": (None, False)}
    async with haishu.engine.connect() as conn:
        announced = sorted((await conn.execute(select(outbox.c.message_id).where(
            outbox.c.message_id.like("sent-in-error#%")))).scalars())
        assert announced == ["sent-in-error#1", "sent-in-error#2"]  # opened, then cancelled
        assert await conn.scalar(select(messages.c.type).where(messages.c.id == "w-1")) == "withdrawal"


async def test_a_withdrawal_after_the_answer_is_kept_and_changes_nothing(haishu):
    wire = Wire()
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=1), "answered")])
    async with SqlUnitOfWork(haishu.engine, Outbox(TopicScheme("t", 8), haishu.trust, "haishu"),
                             NullMetrics()) as uow:
        await haishu.obligations.answered(uow, HUI, "answered", "fb-1", utcnow())
        await uow.messages.mark_answered(HUI, HAISHU, "answered", utcnow())

    await haishu.store([wire.record(MessageType.WITHDRAWAL, {"reason": "other"}, "w-late", in_reply_to="answered")])

    assert await withdrawn(haishu) == {"answered": (None, False)}
    async with haishu.engine.connect() as conn:
        assert await conn.scalar(select(messages.c.type).where(messages.c.id == "w-late")) == "withdrawal"


async def test_a_withdrawal_of_a_record_never_sent_to_this_county_is_quarantined(haishu):
    wire = Wire()
    await haishu.store([wire.record(MessageType.WITHDRAWAL, {"reason": "other"}, "w-x", in_reply_to="never-sent")])

    async with haishu.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(messages)) == 0
        [reason] = (await conn.execute(select(quarantine.c.reason_code))).scalars()
    assert reason == "not_counterpart"


# -- clarification (请求补充说明 / 补充说明) ------------------------------------------------------------------------

async def test_a_clarification_resumes_its_records_clock_and_one_naming_no_request_is_quarantined(haishu):
    wire = Wire()
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=1), "unclear")])
    asked = new_envelope(message_type=MessageType.CLARIFICATION_REQUEST, schema_version="1.0", sender=HAISHU,
                         receiver=HUI, now=utcnow(), message_id="ask-1", in_reply_to="unclear")
    async with SqlUnitOfWork(haishu.engine, Outbox(TopicScheme("t", 8), haishu.trust, "haishu"),
                             NullMetrics()) as uow:
        await uow.messages.add([Outgoing(asked, {"reason": "unreadable", "question": "?"}, "").message_row(
            Direction.OUT, DeliveryState.DELIVERED, utcnow(), haishu.trust.seal_payload)])
        kept = await uow.obligations.get(HUI, "unclear")
        assert await haishu.obligations.paused(uow, kept, "ask-1", utcnow())

    # A clarification naming the record itself (no request) is quarantined; the one naming the request resumes.
    await haishu.store([wire.record(MessageType.CLARIFICATION, {"answer": "x"}, "c-wrong", in_reply_to="unclear"),
                        wire.record(MessageType.CLARIFICATION, {"answer": "已核实"}, "c-1", in_reply_to="ask-1")])

    async with haishu.engine.connect() as conn:
        [reason] = (await conn.execute(select(quarantine.c.message_id, quarantine.c.reason_code))).all()
        assert tuple(reason) == ("c-wrong", "not_counterpart")
        ob = from_state(await conn.scalar(select(obligations.c.state).where(obligations.c.message_id == "unclear")))[0]
        assert not ob.paused and len(ob.pauses) == 1 and ob.pauses[0].request_id == "ask-1"
        assert await conn.scalar(select(messages.c.state).where(messages.c.id == "ask-1")) == "answered"


# -- verification requests (协查) -------------------------------------------------------------------------------

async def test_a_verification_step_answers_its_request_and_one_naming_a_record_is_quarantined(haishu):
    # Haishu asked Hui to verify a woman's pregnancy, and sent Hui a birth record.
    async with SqlUnitOfWork(haishu.engine, Outbox(TopicScheme("t", 8), haishu.trust, "haishu"),
                             NullMetrics()) as uow:
        for message_type, message_id in ((MessageType.VERIFICATION_REQUEST, "ask-hui"), (MessageType.BIRTH, "born")):
            sent = new_envelope(message_type=message_type, schema_version="1.0", sender=HAISHU, receiver=HUI,
                                now=utcnow(), message_id=message_id)
            await uow.messages.add([Outgoing(sent, example_payload(message_type), "").message_row(
                Direction.OUT, DeliveryState.DELIVERED, utcnow(), haishu.trust.seal_payload)])

    # Hui answers the request with its step. A "step" naming the birth record would answer the birth, and feedback
    # naming the request would answer it without its steps: both are set aside.
    wire = Wire()
    answered = {"step": "answered", "result": "confirmed", "findings": "属实"}
    await haishu.store([wire.record(MessageType.VERIFICATION_STEP, answered, "step-on-birth", in_reply_to="born"),
                        wire.record(MessageType.FEEDBACK, example_payload(MessageType.FEEDBACK), "feedback-on-ask",
                                    in_reply_to="ask-hui")])
    await haishu.store([wire.record(MessageType.VERIFICATION_STEP, answered, "step-1", in_reply_to="ask-hui")])

    async with haishu.engine.connect() as conn:
        reasons = set((await conn.execute(select(quarantine.c.message_id, quarantine.c.reason_code))).all())
        assert reasons == {("step-on-birth", "not_counterpart"), ("feedback-on-ask", "not_counterpart")}
        states_ = dict((await conn.execute(select(messages.c.id, messages.c.state).where(
            messages.c.direction == Direction.OUT))).all())
    assert states_ == {"ask-hui": "answered", "born": "delivered"}
