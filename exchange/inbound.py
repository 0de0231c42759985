"""Storing what arrives from Kafka: deduplicate, record, acknowledge, in one transaction per batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import orjson
from pydantic import ValidationError
from sqlalchemy import and_, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import ContractError, Envelope, MessageType, validate_payload
from exchange.config import Settings
from exchange.domain.delivery import DeliveryState, Direction, states_before
from exchange.envelopes import Outgoing, receipt_for
from exchange.obligations import Obligations
from exchange.storage.sql import insert_ignoring_duplicates, upsert
from exchange.storage.tables import consumer_offsets, inbox, messages, outbox, quarantine
from exchange.timeutil import utcnow
from exchange.transport.cloudevents import from_record
from exchange.transport.topics import TopicScheme

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


class Rejected(Exception):
    def __init__(self, code: str, reason: str, message_id: str | None = None):
        super().__init__(code)
        self.code, self.reason, self.message_id = code, reason, message_id


class Inbound:
    """The receiving side of a node."""

    def __init__(self, settings: Settings, engine: AsyncEngine, topics: TopicScheme, obligations: Obligations):
        self.settings = settings
        self.engine = engine
        self.topics = topics
        self.obligations = obligations

    async def store(self, records: Sequence[Record]) -> tuple[dict[tuple[str, int], int], int]:
        """Process a batch; returns next offsets per partition (commit them after this returns) and outbox rows added."""
        now = utcnow()
        positions: dict[tuple[str, int], int] = {}
        sent = 0
        async with self.engine.begin() as conn:
            for record in records:
                positions[(record.topic, record.partition)] = record.offset + 1
                if record.key not in self.settings.served:
                    continue  # another county hashed to the same partition
                try:
                    envelope, data = self._decode(record)
                except Rejected as rejected:
                    await self._quarantine(conn, record, rejected, now)
                    continue
                sent += await self._apply(conn, record, envelope, data, now)
            for (topic, partition), next_offset in positions.items():
                await conn.execute(
                    upsert(conn, consumer_offsets, ["topic", "partition"],
                           {"topic": topic, "partition": partition, "next_offset": next_offset})
                )
        return positions, sent

    def _decode(self, record: Record) -> tuple[Envelope, dict[str, Any]]:
        try:
            envelope, data = from_record(record.headers, record.value or b"")
        except (ValidationError, ValueError, UnicodeDecodeError) as exc:
            raise Rejected("undecodable", f"not a valid CloudEvent: {type(exc).__name__}") from None
        if envelope.receiverregion != record.key:
            raise Rejected("misaddressed", "record key differs from ce_receiverregion", envelope.id)
        try:
            payload = validate_payload(envelope.message_type, envelope.schemaversion, data)
        except ValidationError as exc:
            codes = sorted({e["type"] for e in exc.errors(include_input=False)})
            raise Rejected("contract_violation", "payload fails its contract: " + ", ".join(codes), envelope.id) from None
        except ContractError as exc:
            raise Rejected(exc.code, exc.message_en, envelope.id) from None
        return envelope, payload.model_dump(mode="json", exclude_none=True)

    async def _apply(self, conn: AsyncConnection, record: Record, envelope: Envelope, data: dict, now: datetime) -> int:
        first_time = await conn.execute(
            insert_ignoring_duplicates(conn, inbox, "message_id").values(
                message_id=envelope.id,
                type=envelope.message_type.value,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                received_at=now,
            )
        )
        if first_time.rowcount == 0:
            log.info("duplicate record %s skipped", envelope.id)
            return 0
        if envelope.message_type is MessageType.DELIVERY_RECEIPT:
            await _advance_outbound(conn, envelope.inreplyto, DeliveryState.DELIVERED, "delivered_at", now)
            return 0
        received = Outgoing(envelope, data, content_hash="")
        row = received.message_row(Direction.IN, DeliveryState.DELIVERED, now)
        await conn.execute(insert(messages).values(**row, delivered_at=now))
        if envelope.message_type is MessageType.FEEDBACK:
            await _advance_outbound(conn, envelope.inreplyto, DeliveryState.ANSWERED, "answered_at", now)
        else:  # a record: the receiving county now owes feedback
            await self.obligations.open(
                conn, message_id=envelope.id, message_type=envelope.message_type, sender=envelope.senderregion,
                receiver=envelope.receiverregion, sent_at=envelope.time, data=data, received_at=now,
            )
        receipt = receipt_for(envelope, self.settings.node_id, now)
        await conn.execute(insert(outbox).values(**receipt.outbox_row(self.topics, now)))
        return 1

    async def _quarantine(self, conn: AsyncConnection, record: Record, rejected: Rejected, now: datetime) -> None:
        log.warning("record %s/%d@%d quarantined: %s", record.topic, record.partition, record.offset, rejected.code)
        await conn.execute(
            insert_ignoring_duplicates(conn, quarantine, "topic", "partition", "offset").values(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                message_id=rejected.message_id,
                reason_code=rejected.code,
                reason=rejected.reason,
                headers=orjson.dumps([[k, v.decode(errors="replace")] for k, v in record.headers]).decode(),
                value=record.value,
                received_at=now,
            )
        )


async def _advance_outbound(
    conn: AsyncConnection, message_id: str | None, state: DeliveryState, stamp: str, now: datetime
) -> None:
    """Move a sent message forward (never back) and stamp when it first happened."""
    column = messages.c[stamp]
    base = and_(messages.c.id == message_id, messages.c.direction == Direction.OUT)
    await conn.execute(update(messages).where(base, column.is_(None)).values({stamp: now}))
    await conn.execute(
        update(messages).where(base, messages.c.state.in_(states_before(state))).values(state=state)
    )
