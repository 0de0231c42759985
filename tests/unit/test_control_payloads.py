"""The contract models of the control topics take exactly what a node puts there: records made by the node's own
code (a real SQLite database, no broker) validate against them, byte for byte as they would be published, and
against what the AsyncAPI document says of their topic (headers, value, record key).

Keys topic: public signing keys, revocations and sealing keys; signed agreements; reminders; monitoring events;
dead letters (the ``mpx_dlq_*`` headers, and the value sealed to the refusing county)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import MessageType
from contracts.cloudevents import encode_data, to_headers
from contracts.control import (
    SEALING_ALGORITHM,
    DeadLetterHeaders,
    KeyRecordBody,
    KeyRevocationBody,
    MonitoringEvent,
    ObligationReminder,
    ReminderKind,
    SealedData,
    SealingKeyRecordBody,
    SignedAgreement,
)
from contracts.examples import example_payload
from exchange.adapters.crypto import sealing
from exchange.adapters.crypto.key_records import KeyRecord, KeyRevocation
from exchange.adapters.crypto.payload_crypto import PayloadCipher, new_key
from exchange.adapters.crypto.sealing import SealingKeyRecord
from exchange.adapters.crypto.signed_agreements import AgreementKeys, new_agreement_key
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import NullMetrics
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.tables import outbox
from exchange.adapters.unit_of_work import Outbox, SqlUnitOfWork
from exchange.config import Settings
from exchange.domain import Agreement, AgreementBook, CalendarBook
from exchange.domain.clock import utcnow
from exchange.domain.message import Record, new_envelope
from exchange.domain.obligation import ReminderKind as DomainReminderKind
from exchange.service.obligations import Obligations
from exchange.service.receiving import Inbound
from exchange.service.reconciliation import Reconciler
from exchange.service.reminders import Reminders
from tests.unit.asyncapi_documents import message_errors
from tests.unit.test_inbound_batches import rosters_of

HUI, HAISHU = "621227", "330203"  # Haishu's node is the one under test
HUI_KEY = SigningKey.generate(HUI, "621227-20260101T000000Z-1f2e", datetime(2026, 1, 1, tzinfo=UTC))
TOPICS = TopicScheme("t", 8)


class Haishu(Inbound):
    """Haishu's receiving side, and the database it keeps."""

    engine: AsyncEngine


async def _haishu(tmp_path, *, keys: bool) -> tuple[Haishu, Trust]:  # noqa: ANN001
    """Haishu's node: its database, its keys (made at start, as a node does, unless `keys` is false) and its
    receiving side, knowing Hui's signing key."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'haishu.db'}"
    await migrate(url)
    engine = create_engine(url)
    trust = Trust(engine, PayloadCipher.from_setting(f"k1:{new_key()}"), [HAISHU])
    if keys:
        await trust.start()
    trust.ring.add_public(HUI_KEY.public_key())
    settings = Settings(counties=HAISHU, database_url=url, node_id="haishu")
    uow = lambda: SqlUnitOfWork(engine, Outbox(TOPICS, trust, "haishu"), NullMetrics())  # noqa: E731
    obligations = Obligations(AgreementBook(), CalendarBook.default(), b"k")
    inbound = Haishu(settings, uow, obligations, trust, Reconciler(settings, uow, TOPICS, lambda: None, "haishu"),
                     _keys_are_current, NullMetrics(), rosters_of(settings, uow, obligations, trust))
    inbound.engine = engine
    return inbound, trust


async def _keys_are_current() -> bool:
    return True


@pytest.fixture
async def node(tmp_path):
    inbound, trust = await _haishu(tmp_path, keys=True)
    yield inbound, trust
    await inbound.engine.dispose()


async def published(inbound: Haishu, trust: Trust | None, topic: str, message: str
                    ) -> list[tuple[dict[str, str], bytes]]:
    """Headers and value of every outbox row for `topic`, as the relay would publish them (opened at rest); each
    checked against the AsyncAPI document's `message` of the topic's channel."""
    async with inbound.engine.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.topic == topic).order_by(outbox.c.seq))).all()
    records = []
    for row in rows:
        headers = dict(orjson.loads(row.headers))
        value = trust.open_value(row.value, row.message_id) if trust else row.value
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = value.decode(errors="replace")
        assert message_errors(topic.rsplit(".", 1)[1], message, headers=headers, value=parsed, key=row.key) == []
        records.append((headers, value))
    return records


def from_hui(message_type: MessageType, data: dict, offset: int, *, key: str = HAISHU,
             value: bytes | None = None, sealed_to: Trust | None = None) -> Record:
    """A record of Hui to Haishu as it comes off the records topic: in clear and unsigned, or as Hui's relay
    publishes it (signed, and sealed to the sealing key of `sealed_to`, Haishu's node)."""
    envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=HUI, receiver=HAISHU,
                            now=utcnow(), message_id=str(uuid.uuid4()))
    headers, wire = to_headers(envelope), encode_data(data) if value is None else value
    if sealed_to is not None:
        hui = Trust(None, PayloadCipher.from_setting(""))  # type: ignore[arg-type] - signs and seals only
        hui.ring.add_signing(HUI_KEY)
        hui.sealing.add(sealed_to.sealing.current(HAISHU))
        headers, wire = hui.wire(headers, wire)
    return Record("t.records.33", 3, offset, key, headers, wire)


def outflow(seed: int) -> dict:
    return example_payload(MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=HUI,
                           residence_region=HAISHU)


async def test_every_record_a_node_publishes_on_the_keys_topic_fits_its_contract(node):
    _, trust = node
    records: list = []

    async def publish(batch):  # noqa: ANN001 - what KeyFeed.publish puts on the topic, in its order
        records.extend(batch)

    await trust.reload(publish)
    kinds = {type(r) for r in records}
    assert kinds == {KeyRecord, SealingKeyRecord}
    [signer] = trust.ring.signing[HAISHU]
    revocation = KeyRevocation.sign(HAISHU, signer.key_id, datetime.now(UTC), signer)  # mpx keys revoke-signing
    assert KeyRevocationBody.model_validate_json(revocation.to_bytes()).key_id == signer.key_id
    documented = {KeyRecord: "key_record", SealingKeyRecord: "sealing_key_record", KeyRevocation: "key_revocation"}
    for record in [*records, revocation]:
        raw = record.to_bytes()
        assert message_errors("keys", documented[type(record)], headers={"content-type": "application/json"},
                              value=orjson.loads(raw), key=record.kafka_key) == []
        if isinstance(record, SealingKeyRecord):
            body = SealingKeyRecordBody.model_validate_json(raw)
            assert (body.key.county, body.key.key_id, body.signed_by) == (HAISHU, record.key.key_id,
                                                                         record.signed_by)
            assert record.kafka_key == f"seal:{HAISHU}:{body.key.key_id}"
            assert SealingKeyRecord.from_body(orjson.loads(raw)) == record  # what the node reads back
        elif isinstance(record, KeyRecord):
            assert KeyRecordBody.model_validate_json(raw).key.key_id == record.key.key_id


def test_a_signed_agreement_is_what_the_document_says_of_the_agreements_topic():
    signing, trusted = new_agreement_key("nhc-2026")
    agreement = Agreement.from_dict({"id": "zj-gs", "version": 2, "name": "浙甘协作", "parties": ["330000", "620000"],
                                     "effective_from": "2026-01-01", "feedback_deadlines": {"birth": 10}})
    raw = AgreementKeys.parse(trusted, signing).sign(agreement)  # POST /v1/agreements, MPX_AGREEMENTS_FILE
    assert SignedAgreement.model_validate_json(raw).agreement.version == 2
    assert message_errors("agreements", "signed_agreement", headers={"content-type": "application/json"},
                          value=orjson.loads(raw), key="zj-gs:2") == []


def test_a_sealing_key_record_that_breaks_its_contract_is_refused():
    good = {"kind": "sealing_key",
            "key": {"county": HAISHU, "key_id": "seal-330203-20261204T090000Z-a1b2", "public": "A" * 43,
                    "not_before": "2026-12-04T09:00:00+00:00"},
            "signed_by": "330203-20261204T090000Z-77c1", "signature": "A" * 86}
    assert SealingKeyRecordBody.model_validate(good).key.not_before.tzinfo is not None
    for bad in ({**good, "kind": "key"}, {**good, "key": {**good["key"], "not_before": "2026-12-04T09:00:00"}},
                {**good, "key": {**good["key"], "not_after": None}}, {**good, "signature": "A" * 85},
                {k: v for k, v in good.items() if k != "kind"}):
        with pytest.raises(ValidationError):
            SealingKeyRecordBody.model_validate(bad)


async def test_reminders_and_monitoring_events_fit_their_contracts(node):
    inbound, trust = node
    # Haishu signs the events of the obligations it owes.
    await inbound.store([from_hui(MessageType.OUTFLOW_REGISTRATION, outflow(1), 1, sealed_to=trust)])
    reminders = Reminders(inbound.uow, CalendarBook.default(), frozenset({HAISHU}))
    assert await reminders.emit_due(utcnow() + timedelta(days=3650)) == 4

    sent = await published(inbound, None, TOPICS.reminders_topic, "reminder")
    assert [headers for headers, _ in sent] == [{"content-type": "application/json", "ce_type": "cn.mpx.reminder"}] * 4
    bodies = [ObligationReminder.model_validate_json(value) for _, value in sent]
    assert {b.kind for b in bodies} == set(ReminderKind)
    assert {(b.sender, b.receiver, b.message_type) for b in bodies} == {(HUI, HAISHU, "outflow_registration")}
    assert all(b.fire_at <= b.due_at for b in bodies if b.kind is not ReminderKind.BREACH)

    [(headers, value)] = await published(inbound, None, TOPICS.monitor_topic, "monitoring_event")
    assert headers["ce_type"] == "cn.mpx.obligation.opened" and "mpx-signature" in headers
    assert MonitoringEvent.model_validate_json(value).event == "opened"


def test_the_contracts_name_the_reminder_kinds_and_the_sealing_suite_the_node_uses():
    assert {k.value for k in ReminderKind} == {k.value for k in DomainReminderKind}
    assert SEALING_ALGORITHM == sealing.ALGORITHM
    assert SealedData.model_json_schema()["properties"]["alg"]["const"] == SEALING_ALGORITHM
    assert sealing.MARKER in SealedData.model_fields


async def test_a_dead_letter_has_its_reasons_in_headers_and_its_value_sealed_to_the_refusing_county(node):
    inbound, trust = node
    clear = from_hui(MessageType.OUTFLOW_REGISTRATION, outflow(2), 1)  # in clear and unsigned: refused
    junk = from_hui(MessageType.BIRTH, {}, 2, value=b"\x00 not json")
    await inbound.store([clear, junk])

    (headers, value), (junk_headers, junk_value) = await published(inbound, trust, TOPICS.deadletter_topic,
                                                                   "dead_letter")
    parsed = DeadLetterHeaders.model_validate(headers)
    assert (parsed.mpx_dlq_reason_code, parsed.mpx_dlq_topic, parsed.mpx_dlq_partition, parsed.mpx_dlq_offset,
            parsed.mpx_dlq_node) == ("unsigned", "t.records.33", "3", "1", "haishu")
    assert parsed.model_extra["ce_receiverregion"] == HAISHU  # the refused record's own headers come along
    own_key = trust.sealing.current(HAISHU).key_id
    assert SealedData.model_validate_json(value).kid == own_key  # in clear, so sealed to Haishu's own key
    assert b"id_number" not in value
    assert DeadLetterHeaders.model_validate(junk_headers).mpx_dlq_reason_code == "undecodable"
    assert SealedData.model_validate_json(junk_value).kid == own_key  # not even JSON: sealed all the same


async def test_a_node_without_sealing_keys_dead_letters_the_value_as_it_came(tmp_path):
    inbound, trust = await _haishu(tmp_path, keys=False)  # before its first start made its keys
    junk = from_hui(MessageType.BIRTH, {}, 1, value=b"\x00 not json")
    await inbound.store([junk])
    [(headers, value)] = await published(inbound, trust, TOPICS.deadletter_topic, "dead_letter")
    assert DeadLetterHeaders.model_validate(headers).mpx_dlq_reason_code == "undecodable"
    assert value == junk.value
    await inbound.engine.dispose()


def test_dead_letter_headers_refuse_what_a_node_never_writes():
    headers = {"mpx_dlq_reason_code": "unsigned", "mpx_dlq_reason": "signature: no mpx-key-id",
               "mpx_dlq_topic": "mpx.v1.records.33", "mpx_dlq_partition": "3", "mpx_dlq_offset": "17",
               "mpx_dlq_node": "haishu", "mpx_dlq_time": "2026-11-02T02:00:00+00:00", "ce_id": "m-1"}
    assert DeadLetterHeaders.model_validate(headers).model_extra == {"ce_id": "m-1"}
    for bad in ({**headers, "mpx_dlq_offset": "-1"}, {**headers, "mpx_dlq_time": "2026-11-02T02:00:00"},
                {**headers, "mpx_dlq_reason_code": "Unsigned"}, {**headers, "ce_id": 1},
                {k: v for k, v in headers.items() if k != "mpx_dlq_node"}):
        with pytest.raises(ValidationError):
            DeadLetterHeaders.model_validate(bad)
