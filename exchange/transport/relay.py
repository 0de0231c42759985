"""The outbox relay: publishes stored records to Kafka in order, then marks them published."""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.domain.delivery import DeliveryState, Direction
from exchange.storage.tables import messages, outbox
from exchange.timeutil import utcnow
from exchange.transport.admin import TopicProvisioner

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0


class Relay:
    """One loop per node. A record leaves the outbox only after the broker acknowledged it (acks=all)."""

    def __init__(self, engine: AsyncEngine, provisioner: TopicProvisioner, batch: int, idle_seconds: float):
        self.engine = engine
        self.producer: AIOKafkaProducer | None = None
        self.provisioner = provisioner
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.wakeup = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        backoff = 0.1
        while True:
            try:
                sent = await self.publish_once()
                backoff = 0.1
            except (KafkaError, OSError, SQLAlchemyError) as exc:  # transient: broker or database away
                log.warning("publishing failed (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if sent < self.batch:
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)
                except TimeoutError:
                    pass
                self.wakeup.clear()

    async def publish_once(self) -> int:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.seq, outbox.c.message_id, outbox.c.topic, outbox.c.partition, outbox.c.key,
                           outbox.c.headers, outbox.c.value)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch)
                )
            ).all()
        if not rows:
            return 0
        await self.provisioner.ensure({row.topic for row in rows})
        futures = [
            await self.producer.send(
                row.topic,
                value=row.value,
                key=row.key.encode(),
                partition=row.partition,
                headers=[(k, v.encode()) for k, v in orjson.loads(row.headers)],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
        now = utcnow()
        seqs = [row.seq for row in rows]
        ids = [row.message_id for row in rows]
        async with self.engine.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=now))
            await conn.execute(
                update(messages)
                .where(messages.c.direction == Direction.OUT, messages.c.id.in_(ids), messages.c.published_at.is_(None))
                .values(published_at=now)
            )
            await conn.execute(
                update(messages)
                .where(messages.c.direction == Direction.OUT, messages.c.id.in_(ids),
                       messages.c.state == DeliveryState.ACCEPTED)
                .values(state=DeliveryState.PUBLISHED)
            )
        self.published += len(rows)
        return len(rows)
