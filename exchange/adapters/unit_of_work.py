"""The unit of work: one database transaction of one use case, and the only writer of the outbox and the evidence
chain.

A service opens it (``async with uow:``), reads and writes its own tables through ``uow.conn``, and records what
happened as domain events (``uow.record(...)``, exchange/domain/events.py). Before the transaction commits, the
unit of work turns the events into evidence-chain entries (first, so a receipt or digest made afterwards carries a
chain head that covers them), outbox rows (sealed at rest; the relay seals and signs them for the wire) and metric
increments (which reach the registry only if the transaction commits). An exception rolls all of it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import MessageType
from contracts.cloudevents import attribute_headers, encode_data
from exchange.adapters.crypto import evidence
from exchange.adapters.crypto.canonical import monitoring_event_bytes, roster_figures_bytes
from exchange.adapters.crypto.key_records import KEY_ID_HEADER, SIGNATURE_HEADER
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import Metrics, NullMetrics, counted_transaction
from exchange.adapters.sql import webhook_outbox
from exchange.adapters.sql.message_repository import MessageRepository
from exchange.adapters.sql.obligation_repository import ObligationRepository
from exchange.adapters.sql.progress import chunks
from exchange.adapters.sql.roster_repository import RosterRepository
from exchange.adapters.sql.tables import outbox
from exchange.domain.clock import utcnow
from exchange.domain.events import (
    AgreementAnnounced,
    CountyNotice,
    Event,
    MessageAccepted,
    MessageSent,
    Noted,
    ObligationChanged,
    RecordSetAside,
    ReminderDue,
    ResendAsked,
    RosterAnswered,
)
from exchange.domain.message import Outgoing

_DLQ_NAMESPACE = uuid.UUID("0b7f9c1e-8f3d-4b52-a1d6-5c2e7a9d4f10")
JSON = [["content-type", "application/json"]]


class Outbox:
    """How each event that publishes something becomes outbox rows: topic, partition, headers, value sealed at
    rest. Held by the unit of work only."""

    def __init__(self, topics: TopicScheme, trust: Trust, node_id: str):
        self.topics, self.trust, self.node_id = topics, trust, node_id

    def message(self, out: Outgoing, now: datetime) -> dict[str, Any]:
        """A message to its receiving county's address; the relay seals it to that county and signs it when it
        publishes the record (Trust.wire), so it goes out under the keys current then."""
        receiver = out.envelope.receiverregion
        topic, partition = self.topics.address(receiver)
        return _row(out.id, topic, partition, receiver, [[k, v.decode()] for k, v in attribute_headers(out.attributes)],
                    self.trust.seal_value(encode_data(out.data), out.id), now)

    def obligation(self, e: ObligationChanged, now: datetime) -> dict[str, Any]:
        """The receiving county vouches for its own obligation: the lifecycle event is signed with its key."""
        key_id, signature = self.trust.ring.sign(e.receiver, monitoring_event_bytes(e.body), now)
        headers = JSON + [["ce_type", f"cn.mpx.obligation.{e.event}"], [KEY_ID_HEADER, key_id],
                          [SIGNATURE_HEADER, signature]]
        return _row(f"{e.message_id}#{e.revision}", self.topics.monitor_topic, self.topics.partition_for(e.receiver),
                    e.receiver, headers, orjson.dumps(e.body), now)

    def roster(self, e: RosterAnswered, now: datetime) -> dict[str, Any]:
        """The residence county vouches for the counts of the roster it answered: signed with its key."""
        key_id, signature = self.trust.ring.sign(e.residence, roster_figures_bytes(e.body), now)
        headers = JSON + [["ce_type", "cn.mpx.roster.answered"], [KEY_ID_HEADER, key_id],
                          [SIGNATURE_HEADER, signature]]
        return _row(f"roster:{e.roster_id}", self.topics.monitor_topic, self.topics.partition_for(e.residence),
                    e.residence, headers, orjson.dumps(e.body), now)

    def reminder(self, e: ReminderDue, now: datetime) -> dict[str, Any]:
        return _row(f"{e.message_id}#{e.kind}", self.topics.reminders_topic, self.topics.partition_for(e.receiver),
                    e.receiver, JSON + [["ce_type", "cn.mpx.reminder"]], orjson.dumps(e.body), now)

    def dead_letter(self, e: RecordSetAside, now: datetime) -> dict[str, Any]:
        """A dead letter carries personal data only sealed: to the sender's key as it came, else to our own (for a
        county this node serves), and sealed at rest."""
        coordinates = f"{e.topic}/{e.partition}/{e.offset}"
        dlq_id = f"dlq-{uuid.uuid5(_DLQ_NAMESPACE, coordinates)}"
        value = e.value
        if e.key in self.trust.counties:
            value = self.trust.seal_to_self(e.key, value, dlq_id)
        headers = [list(h) for h in e.headers] + [
            ["mpx_dlq_reason_code", e.code], ["mpx_dlq_reason", e.reason], ["mpx_dlq_topic", e.topic],
            ["mpx_dlq_partition", str(e.partition)], ["mpx_dlq_offset", str(e.offset)],
            ["mpx_dlq_node", self.node_id], ["mpx_dlq_time", now.isoformat()]]
        partition = self.topics.partition_for(e.key) if len(e.key) == 6 else 0
        return _row(dlq_id, self.topics.deadletter_topic, partition, e.key[:80], headers,
                    self.trust.seal_value(value, dlq_id), now)

    def agreement(self, e: AgreementAnnounced, now: datetime) -> dict[str, Any]:
        return _row(f"agreement:{e.agreement_id}:{e.version}"[:80], self.topics.agreements_topic, 0,
                    f"{e.agreement_id}:{e.version}"[:80], JSON, e.signed, now)

    @staticmethod
    async def copies(conn: AsyncConnection, e: ResendAsked, now: datetime) -> list[dict[str, Any]]:
        """The stored records asked for again, to be published again as they were."""
        copies = []
        for chunk in chunks(list(e.stored)):
            rows = await conn.execute(select(outbox).where(outbox.c.seq.in_(chunk)).order_by(outbox.c.seq))
            copies += [{"message_id": o.message_id, "topic": o.topic, "partition": o.partition, "key": o.key,
                        "headers": o.headers, "value": o.value, "created_at": now, "attempts": 0} for o in rows]
        return copies


class NoOutbox:
    """For units of work that only record evidence (the console's key commands): publishing is a bug there."""

    def __getattr__(self, name: str) -> Any:
        raise TypeError("this unit of work publishes nothing (built without an outbox)")


def _row(message_id: str, topic: str, partition: int, key: str, headers: list, value: bytes,
         now: datetime) -> dict[str, Any]:
    return {"message_id": message_id, "topic": topic, "partition": partition, "key": key,
            "headers": orjson.dumps(headers).decode(), "value": value, "created_at": now, "attempts": 0}


class SqlUnitOfWork:
    """``async with uow:`` opens the transaction; leaving the block without an exception writes what the recorded
    events imply and commits. One instance per use (see `SqlUnitOfWorkFactory`)."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox | NoOutbox, metrics: Metrics, *, first: bool = False):
        self.engine, self.outbox, self.metrics = engine, outbox, metrics
        self.first = first  # ahead of other writers on SQLite (the relay's: exchange.adapters.sql.database.WriteGate)
        self.events: list[Event] = []
        #: Outbox rows written so far (the relay is woken when this is not 0).
        self.published = 0
        self._entries: list[dict[str, Any]] = []  # evidence entries not written yet
        self._conn: AsyncConnection | None = None
        self._transaction: Any = None

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._conn

    async def __aenter__(self) -> SqlUnitOfWork:
        self._transaction = counted_transaction(self.engine, first=self.first)
        self._conn = await self._transaction.__aenter__()
        self.obligations = ObligationRepository(self._conn)
        self.messages = MessageRepository(self._conn)
        self.rosters = RosterRepository(self._conn)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        transaction, self._transaction = self._transaction, None
        try:
            if exc_type is None:
                try:
                    await self.flush()
                except BaseException as error:
                    await transaction.__aexit__(type(error), error, error.__traceback__)
                    raise
            return await transaction.__aexit__(exc_type, exc, tb)
        finally:
            self._conn = None

    def record(self, *events: Event) -> None:
        for e in events:
            self.events.append(e)
            if isinstance(e, (Noted, MessageAccepted)):
                self._entries.append(_entry(e))

    async def chain_head(self) -> dict[str, Any] | None:
        """The evidence chain's head once every entry recorded so far is written: what receipts and digests carry
        to the peers (who keep it, so this node's operator cannot rewrite the chain unseen)."""
        await self._write_evidence(utcnow())
        return await evidence.head(self.conn)

    async def flush(self) -> None:
        """Write what the events recorded so far imply (evidence first), inside the transaction."""
        now = utcnow()
        await self._write_evidence(now)
        events, self.events = self.events, []
        rows: list[dict[str, Any]] = []
        notices: list[CountyNotice] = []  # for the county's webhook subscriptions
        for e in events:
            match e:
                case MessageAccepted(message=out):
                    rows.append(self.outbox.message(out, now))
                    self.metrics.accepted([(out.envelope.message_type.value, out.envelope.senderregion)])
                    if out.envelope.message_type is MessageType.WITHDRAWAL:
                        env = out.envelope
                        notices.append(CountyNotice(env.senderregion, "record.withdrawn", env.senderregion,
                                                    env.receiverregion, env.inreplyto, {"withdrawal_id": env.id}))
                case MessageSent(message=out):
                    rows.append(self.outbox.message(out, now))
                case ObligationChanged():
                    rows.append(self.outbox.obligation(e, now))
                    self.metrics.obligations(e.event, [e.receiver])
                    notices.append(CountyNotice(e.receiver, f"obligation.{e.event}", e.body.get("sender"), e.receiver,
                                                e.message_id, e.body))
                case RosterAnswered():
                    rows.append(self.outbox.roster(e, now))
                case ReminderDue():
                    rows.append(self.outbox.reminder(e, now))
                case RecordSetAside():
                    rows.append(self.outbox.dead_letter(e, now))
                    self.metrics.quarantined(e.code)
                case AgreementAnnounced():
                    rows.append(self.outbox.agreement(e, now))
                case ResendAsked():
                    rows += await self.outbox.copies(self.conn, e, now)
                case CountyNotice():
                    notices.append(e)
        if notices:
            await webhook_outbox.store(self.conn, notices, now)
        if rows:
            await self.conn.execute(insert(outbox), rows)
            self.published += len(rows)

    async def _write_evidence(self, now: datetime) -> None:
        entries, self._entries = self._entries, []
        if not entries:
            return
        if self.conn.dialect.name == "sqlite":  # take the write lock before reading the head (a lone entry)
            await self.conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))
        await evidence.append_many(self.conn, entries, at=now)


def _entry(e: Noted | MessageAccepted) -> dict[str, Any]:
    if isinstance(e, Noted):
        return {"event": e.event, "message_id": e.message_id, "county": e.county, "principal": e.principal,
                "detail": e.detail}
    env = e.message.envelope
    if env.message_type is MessageType.WITHDRAWAL:  # who withdrew which record, and why
        return {"event": "withdrawn", "message_id": env.id, "county": env.senderregion, "principal": e.principal,
                "detail": {"type": env.message_type.value, "receiver": env.receiverregion,
                           "in_reply_to": env.inreplyto, "reason": e.message.data.get("reason")}}
    return {"event": "answered" if env.inreplyto else "accepted", "message_id": env.id,
            "county": env.senderregion, "principal": e.principal,
            "detail": {"type": env.message_type.value, "receiver": env.receiverregion, "in_reply_to": env.inreplyto}}


#: Makes a fresh unit of work for each use (adapters that write evidence hold one of these).
SqlUnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def evidence_only(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    """Units of work that record evidence and publish nothing: for the console's key commands."""
    return lambda: SqlUnitOfWork(engine, NoOutbox(), NullMetrics())
