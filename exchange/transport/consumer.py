"""The inbound consumer: reads exactly the partitions of the counties this node serves.

Partitions are assigned by hand (no group rebalancing): each county's partition is
known from the topic scheme. Positions live in the node's database, written in the
same transaction as the records they cover, so a crash between the database
commit and the Kafka offset commit can only replay records the inbox then
recognises. Offsets are also committed to Kafka afterwards so operators see lag
with the usual tools.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.inbound import Inbound, Record
from exchange.storage.tables import consumer_offsets

log = logging.getLogger(__name__)


class Consumer:
    def __init__(self, consumer: AIOKafkaConsumer, inbound: Inbound, engine: AsyncEngine,
                 partitions: set[TopicPartition], batch: int, on_stored=None):  # noqa: ANN001
        self.consumer = consumer
        self.inbound = inbound
        self.engine = engine
        self.partitions = partitions
        self.batch = batch
        self.on_stored = on_stored or (lambda: None)
        self.stored = 0

    async def start_positions(self) -> None:
        self.consumer.assign(sorted(self.partitions))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(consumer_offsets))).all()
        saved = {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}
        for tp in self.partitions:
            if tp in saved:
                self.consumer.seek(tp, saved[tp])
            else:
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.consumer.seek(tp, committed)
                else:
                    await self.consumer.seek_to_beginning(tp)

    async def run(self) -> None:
        await self.start_positions()
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch)
            records = [
                Record(m.topic, m.partition, m.offset, m.key.decode(errors="replace") if m.key else None,
                       list(m.headers or ()), m.value)
                for messages in batches.values()
                for m in messages
            ]
            if not records:
                continue
            try:
                positions, sent = await self.inbound.store(records)
            except Exception:  # database trouble: nothing was stored, read the same records again
                log.exception("storing %d inbound records failed; retrying", len(records))
                await asyncio.sleep(1.0)
                await self.start_positions()
                continue
            self.stored += len(records)
            if sent:
                self.on_stored()
            try:
                await self.consumer.commit({TopicPartition(t, p): o for (t, p), o in positions.items()})
            except (KafkaError, asyncio.TimeoutError) as exc:  # the database already holds the position
                log.debug("Kafka offset commit failed: %s", type(exc).__name__)
