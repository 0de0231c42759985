"""Storing what arrives from Kafka: deduplicate, record, acknowledge, in one transaction per batch."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import REPLY_TYPES, ContractError, Envelope, MessageType, validate_payload
from exchange.config import Settings
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.message import Outgoing, receipt_for
from exchange.adapters.metrics import NodeMetrics, counted_transaction
from exchange.service.obligations import Obligations
from exchange.adapters.crypto import evidence
from exchange.adapters.crypto.sealing import SealError
from exchange.adapters.crypto.signing import SignatureError
from exchange.adapters.sql.progress import Sent, advance_sent, chunks, replied_to, sent_among
from exchange.adapters.sql.dialect import insert_ignoring_duplicates, upsert
from exchange.adapters.sql.tables import consumer_offsets, inbox, messages, outbox, quarantine, reconciliation
from exchange.domain.clock import utcnow
from exchange.adapters.kafka.cloudevents import from_record
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.crypto.trust import quarantine_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """What the consumer hands over of one Kafka record (no aiokafka types past this point)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Sequence[tuple[str, bytes]]
    value: bytes | None
    #: When the broker appended it (exchange.adapters.kafka.control.appended_at); None: unknown, the receiver's clock.
    appended_at: datetime | None = None


class Rejected(Exception):
    def __init__(self, code: str, reason: str, message_id: str | None = None):
        super().__init__(code)
        self.code, self.reason, self.message_id = code, reason, message_id


class KeysNotCurrent(Exception):
    """A record is signed with a key this node does not know, and the keys topic could not be read to its end:
    nothing is stored, the consumer reads the batch again after a pause."""


#: Control records handled by the reconciler (set as Inbound.control), never stored as messages.
RECONCILIATION_TYPES = frozenset({MessageType.RECONCILIATION_DIGEST, MessageType.RESEND_REQUEST})
_DLQ_NAMESPACE = uuid.UUID("0b7f9c1e-8f3d-4b52-a1d6-5c2e7a9d4f10")


class Inbound:
    """The receiving side of a node."""

    #: Handles reconciliation digests and resend requests (exchange.service.reconciliation.Reconciler).
    control = None
    #: Verifies the sending county's signature and seals payloads at rest (exchange.adapters.crypto.trust.Trust).
    trust = None
    #: Awaited before a batch with a record signed by a key not known yet: reads the keys topic to its end;
    #: returns False if it could not (exchange.adapters.kafka.key_feed.KeyFeed.catch_up).
    refresh_keys = None
    #: Counts what is stored, dropped and quarantined, once its transaction commits (exchange.adapters.metrics).
    metrics: NodeMetrics | None = None

    def __init__(self, settings: Settings, engine: AsyncEngine, topics: TopicScheme, obligations: Obligations):
        self.settings = settings
        self.engine = engine
        self.topics = topics
        self.obligations = obligations

    async def store(self, records: Sequence[Record]) -> tuple[dict[tuple[str, int], int], int]:
        """Process a batch; returns next offsets per partition (commit them after this returns) and outbox rows added.

        Records are stored a statement per table for the whole batch, not per record: on a database a network
        round trip away, per-record statements were the receiver's largest cost."""
        await self._await_keys(records)
        now = utcnow()
        positions: dict[tuple[str, int], int] = {}
        sent = 0
        trail: list[dict[str, Any]] = []  # evidence chain entries of this batch
        pending: list[tuple[Record, Envelope, dict[str, Any]]] = []  # decoded, stored together
        async with counted_transaction(self.engine) as conn:
            asked = await self._asked_again(conn, records)
            for record in records:
                positions[(record.topic, record.partition)] = record.offset + 1
                if record.key not in self.settings.served:
                    continue  # another county hashed to the same partition
                try:
                    envelope, data = self._decode(record, asked)
                except Rejected as rejected:
                    sent += await self._quarantine(conn, record, rejected, now)
                    trail.append(_rejected_entry(record, rejected))
                    continue
                trail.append({"event": "received", "message_id": envelope.id, "county": envelope.receiverregion,
                              "principal": f"county:{envelope.senderregion}",
                              "detail": {"type": envelope.message_type.value,
                                         "verified_with": _header(record, "mpx-key-id")}})
                if envelope.message_type in RECONCILIATION_TYPES:
                    # A digest compares with what is stored: what came before it is stored first.
                    sent += await self._apply(conn, pending, now, trail)
                    pending = []
                    sent += await self._control(conn, record, envelope, data, now)
                    continue
                pending.append((record, envelope, data))
            sent += await self._apply(conn, pending, now, trail)
            for (topic, partition), next_offset in positions.items():
                await conn.execute(
                    upsert(conn, consumer_offsets, ["topic", "partition"],
                           {"topic": topic, "partition": partition, "next_offset": next_offset})
                )
            await evidence.append_many(conn, trail, at=now)
        return positions, sent

    async def _asked_again(self, conn: AsyncConnection, records: Sequence[Record]) -> frozenset[str]:
        """Ids of records appended long after their ce_time that this node asked for again (a digest showed them
        missing): their ce_time has no age bound (they are signed again when sent again)."""
        asked = set()
        for record in records:
            message_id, sent, sender = (_header(record, n) for n in ("ce_id", "ce_time", "ce_senderregion"))
            try:
                late = sent and (record.appended_at or utcnow()) - datetime.fromisoformat(sent) > timedelta(minutes=5)
            except (ValueError, TypeError):
                continue
            if late and message_id and await conn.scalar(select(reconciliation.c.seq).where(
                    reconciliation.c.kind == "digest_checked", reconciliation.c.peer == sender,
                    reconciliation.c.county == record.key,
                    reconciliation.c.missing_ids.contains(f'"{message_id}"', autoescape=True)).limit(1)):
                asked.add(message_id)
        return frozenset(asked)

    def _decode(self, record: Record, asked: frozenset[str] = frozenset()) -> tuple[Envelope, dict[str, Any]]:
        try:
            envelope, data = from_record(record.headers, record.value or b"")
        except ValidationError as exc:  # which attributes, never their values
            problems = sorted({f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['type']}"
                               for e in exc.errors(include_input=False)})
            raise Rejected("undecodable", "not a valid CloudEvent: " + "; ".join(problems),
                           _header(record, "ce_id")) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected("undecodable", f"not a valid CloudEvent: {type(exc).__name__}",
                           _header(record, "ce_id")) from None
        if self.trust is not None:  # before anything about the record is believed or stored
            try:
                self.trust.verify(record.headers, envelope, data, record.appended_at, envelope.id in asked)
            except SignatureError as exc:
                raise Rejected(exc.code, f"signature: {exc}", envelope.id) from None
        if envelope.receiverregion != record.key:
            raise Rejected("misaddressed", "record key differs from ce_receiverregion", envelope.id)
        if self.trust is not None:
            try:
                data = self.trust.open_record(record.headers, envelope, data)
            except SealError as exc:
                raise Rejected(exc.code, f"sealing: {exc}", envelope.id) from None
        try:
            payload = validate_payload(envelope.message_type, envelope.schemaversion, data)
        except ValidationError as exc:
            codes = sorted({e["type"] for e in exc.errors(include_input=False)})
            raise Rejected("contract_violation", "payload fails its contract: " + ", ".join(codes), envelope.id) from None
        except ContractError as exc:
            raise Rejected(exc.code, exc.message_en, envelope.id) from None
        return envelope, payload.model_dump(mode="json", exclude_none=True)

    async def _apply(self, conn: AsyncConnection, items: Sequence[tuple[Record, Envelope, dict[str, Any]]],
                     now: datetime, trail: list[dict[str, Any]]) -> int:
        """Store decoded records not seen before; returns the outbox rows added (their delivery receipts and the
        dead letters of replies not from the counterpart, which are quarantined and noted in `trail`).

        A record is (sending county, id): two counties may use the same id. `trail`: the evidence entries of the
        batch so far, chained here before the receipts take the chain head."""
        unique: dict[tuple[str, str], tuple[Record, Envelope, dict[str, Any]]] = {}
        for item in items:
            unique.setdefault(_identity(item[1]), item)  # a record twice in one batch is one record
        if not unique:
            return 0
        sent = 0
        strays = await self._not_from_counterpart(conn, list(unique.values()))
        for record, rejected in strays:
            sent += await self._quarantine(conn, record, rejected, now)
            trail.append(_rejected_entry(record, rejected))
        if strays:
            quarantined = {id(record) for record, _ in strays}
            unique = {key: item for key, item in unique.items() if id(item[0]) not in quarantined}
        if not unique:
            return sent
        first_time = {tuple(row) for row in await conn.execute(
            insert_ignoring_duplicates(conn, inbox, "message_id", "sender").returning(inbox.c.sender,
                                                                                       inbox.c.message_id),
            [{"message_id": envelope.id, "sender": envelope.senderregion, "type": envelope.message_type.value,
              "topic": record.topic, "partition": record.partition, "offset": record.offset, "received_at": now}
             for record, envelope, _ in unique.values()],
        )}
        fresh = [(envelope, data) for key, (_, envelope, data) in unique.items() if key in first_time]
        duplicates = len(items) - len(fresh) - len(strays)
        if duplicates:
            log.info("%d duplicate records skipped", duplicates)
        receipts = [_answered(env) for env, _ in fresh if env.message_type is MessageType.DELIVERY_RECEIPT]
        await advance_sent(conn, receipts, DeliveryState.DELIVERED, "delivered_at", now)
        await evidence.keep_peer_heads(conn, [
            evidence.peer_head(data["receiver_node_id"], data["chain_head"], env.senderregion, env.inreplyto, now)
            for env, data in fresh if env.message_type is MessageType.DELIVERY_RECEIPT and data.get("chain_head")])
        stored = [(env, data) for env, data in fresh if env.message_type is not MessageType.DELIVERY_RECEIPT]
        if self.metrics is not None:
            self.metrics.duplicates(duplicates)
            self.metrics.receipts(len(receipts))
            self.metrics.received((env.message_type.value, env.receiverregion) for env, _ in stored)
        if not stored:
            return sent
        await conn.execute(insert(messages), [
            {**Outgoing(env, data, content_hash="").message_row(Direction.IN, DeliveryState.DELIVERED, now, self.trust),
             "delivered_at": now}
            for env, data in stored
        ])
        feedback = [_answered(env) for env, _ in stored if env.message_type is MessageType.FEEDBACK]
        await advance_sent(conn, feedback, DeliveryState.ANSWERED, "answered_at", now)
        # A record (not feedback): the receiving county now owes feedback.
        sent_at = {_identity(env): record.appended_at or now for record, env, _ in unique.values()}
        await self.obligations.open_many(
            conn, [(env, data) for env, data in stored if env.message_type is not MessageType.FEEDBACK], now, sent_at)
        await evidence.append_many(conn, trail, at=now)  # the head the receipts carry covers their records
        trail.clear()
        head = await evidence.head(conn)
        await conn.execute(insert(outbox), [
            receipt_for(env, self.settings.node_id, now, head).outbox_row(self.topics, now, self.trust)
            for env, _ in stored
        ])
        return sent + len(stored)

    async def _not_from_counterpart(self, conn: AsyncConnection, items: Sequence[tuple[Record, Envelope, Any]]
                                    ) -> list[tuple[Record, Rejected]]:
        """Replies (receipts, feedback and its amendments) that answer no message their receiver sent their
        sender: a county's node may speak only for its own messages, never for a message between others."""
        replies = [(record, envelope) for record, envelope, _ in items if envelope.message_type in REPLY_TYPES]
        if not replies:
            return []
        wanted = {_answered(envelope) for _, envelope in replies}
        found: set[Sent] = set()
        for chunk in chunks(sorted(wanted)):
            found.update(Sent(*row) for row in await conn.execute(
                select(messages.c.sender, messages.c.receiver, messages.c.id).where(sent_among(chunk))))
        return [(record, Rejected("not_counterpart", f"{envelope.senderregion} was not sent message "
                                  f"{envelope.inreplyto} by {envelope.receiverregion}", envelope.id))
                for record, envelope in replies if _answered(envelope) not in found]

    async def _control(self, conn: AsyncConnection, record: Record, envelope: Envelope, data: dict,
                       now: datetime) -> int:
        if self.control is None:
            log.warning("control record %s skipped: no reconciler", envelope.id)
            return 0
        return await self.control.receive(conn, record, envelope, data, now)

    async def _await_keys(self, records: Sequence[Record]) -> None:
        """A record signed with a key not known yet may simply have overtaken its key (another topic): read the
        keys topic to its end first; only then is a key still unknown quarantined as unknown_key."""
        if self.trust is None or self.refresh_keys is None:
            return
        if not any(r.key in self.settings.served and self.trust.lacks_key(r.headers) for r in records):
            return
        if not await self.refresh_keys():
            raise KeysNotCurrent("the keys topic could not be read to its end")

    def _seal(self, value: bytes | None, context: str) -> bytes | None:
        if value is None or self.trust is None:
            return value
        return self.trust.seal_value(value, context)

    def _sealed_to_self(self, county: str, value: bytes, context: str) -> bytes:
        """A dead letter carries personal data only sealed: to the sender's key as it came, else to our own."""
        if self.trust is None or county not in self.settings.served:
            return value
        return self.trust.seal_to_self(county, value, context)

    async def _quarantine(self, conn: AsyncConnection, record: Record, rejected: Rejected, now: datetime) -> int:
        """Keep the record aside with its reason, and (once) send it to the dead-letter topic; returns 1 if sent."""
        log.warning("record %s/%d@%d quarantined: %s", record.topic, record.partition, record.offset, rejected.code)
        headers = [[k, v.decode(errors="replace")] for k, v in record.headers]
        first = await conn.execute(
            insert_ignoring_duplicates(conn, quarantine, "topic", "partition", "offset").values(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key[:128] if record.key else None,
                message_id=rejected.message_id[:64] if rejected.message_id else None,
                reason_code=rejected.code,
                reason=rejected.reason,
                headers=orjson.dumps(headers).decode(),
                value=self._seal(record.value, quarantine_context(record.topic, record.partition, record.offset)),
                received_at=now,
            )
        )
        if first.rowcount == 0:
            return 0  # read again after a crash: quarantined and dead-lettered already
        if self.metrics is not None:
            self.metrics.quarantined(rejected.code)
        key = record.key or ""
        coordinates = f"{record.topic}/{record.partition}/{record.offset}"
        dlq_id = f"dlq-{uuid.uuid5(_DLQ_NAMESPACE, coordinates)}"
        await conn.execute(
            insert(outbox).values(
                message_id=dlq_id,
                topic=self.topics.deadletter_topic,
                partition=self.topics.partition_for(key) if len(key) == 6 else 0,
                key=key[:80],
                headers=orjson.dumps(headers + [
                    ["mpx_dlq_reason_code", rejected.code],
                    ["mpx_dlq_reason", rejected.reason],
                    ["mpx_dlq_topic", record.topic],
                    ["mpx_dlq_partition", str(record.partition)],
                    ["mpx_dlq_offset", str(record.offset)],
                    ["mpx_dlq_node", self.settings.node_id],
                    ["mpx_dlq_time", now.isoformat()],
                ]).decode(),
                value=self._seal(self._sealed_to_self(key, record.value or b"", dlq_id), dlq_id),
                created_at=now,
                attempts=0,
            )
        )
        return 1

    async def set_aside(self, record: Record, code: str, reason: str) -> tuple[dict[tuple[str, int], int], int]:
        """Quarantine a record the database refused, and move past it (the consumer's last resort)."""
        now = utcnow()
        async with counted_transaction(self.engine) as conn:
            sent = await self._quarantine(conn, record, Rejected(code, reason, _header(record, "ce_id")), now)
            await conn.execute(
                upsert(conn, consumer_offsets, ["topic", "partition"],
                       {"topic": record.topic, "partition": record.partition, "next_offset": record.offset + 1})
            )
        return {(record.topic, record.partition): record.offset + 1}, sent

    async def replay(self, seq: int) -> tuple[str, str | None, int]:
        """Process a quarantined record again (after a fix). Returns (result, message id, outbox rows added);
        result is stored, duplicate, or the reason code it is rejected with again. KeyError if no such record."""
        now = utcnow()
        if self.refresh_keys is not None:  # a key published since the record was set aside
            await self.refresh_keys()
        async with counted_transaction(self.engine) as conn:
            row = (await conn.execute(select(quarantine).where(quarantine.c.seq == seq))).first()
            if row is None:
                raise KeyError(seq)
            headers = [(k, v.encode()) for k, v in orjson.loads(row.headers)]
            value = row.value
            if value is not None and self.trust is not None:
                value = self.trust.open_value(value, quarantine_context(row.topic, row.partition, row.offset))
            # Appended (as far as this node knows) when it first read it.
            record = Record(row.topic, row.partition, row.offset, row.key, headers, value, row.received_at)
            if record.key is None:  # quarantined before keys were kept
                record = Record(row.topic, row.partition, row.offset, _header(record, "ce_receiverregion"),
                                headers, value, row.received_at)
            sent = 0
            message_id = row.message_id
            try:
                envelope, data = self._decode(record, await self._asked_again(conn, [record]))
            except Rejected as rejected:
                result = rejected.code
            else:
                message_id = envelope.id
                seen = await conn.scalar(select(inbox.c.message_id).where(
                    inbox.c.message_id == envelope.id, inbox.c.sender == envelope.senderregion))
                stray = await self._not_from_counterpart(conn, [(record, envelope, data)])
                if seen is not None:
                    result = "duplicate"
                elif stray:
                    result = stray[0][1].code
                elif envelope.message_type in RECONCILIATION_TYPES:
                    sent, result = await self._control(conn, record, envelope, data, now), "stored"
                else:
                    sent, result = await self._apply(conn, [(record, envelope, data)], now, []), "stored"
            await conn.execute(
                update(quarantine).where(quarantine.c.seq == seq).values(replayed_at=now, replay_result=result)
            )
        log.info("quarantined record %d replayed: %s", seq, result)
        return result, message_id, sent


def _rejected_entry(record: Record, rejected: Rejected) -> dict[str, Any]:
    """The evidence entry of a record set aside (where it was on the topic, and why)."""
    return {"event": "rejected", "message_id": rejected.message_id, "county": record.key, "principal": "kafka",
            "detail": {"code": rejected.code, "topic": record.topic, "partition": record.partition,
                       "offset": record.offset}}


def _identity(envelope: Envelope) -> tuple[str, str]:
    """What names a record: its sending county and the id that county gave it."""
    return envelope.senderregion, envelope.id


def _answered(envelope: Envelope) -> Sent | None:
    """The message a reply answers (None for a record that answers nothing)."""
    return replied_to(envelope.senderregion, envelope.receiverregion, envelope.inreplyto)


def _header(record: Record, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode(errors="replace")[:64]
    return None
