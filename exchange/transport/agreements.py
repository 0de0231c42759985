"""The agreements feed: every node reads the compacted agreements topic from the start and keeps reading,
so all nodes of a federation resolve deadlines from the same agreements."""

from __future__ import annotations

import logging

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.sla import Agreement, AgreementBook, AgreementError
from exchange.storage.sql import insert_ignoring_duplicates
from exchange.storage.tables import agreements

log = logging.getLogger(__name__)


class AgreementFeed:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, book: AgreementBook, engine: AsyncEngine):
        self.consumer = consumer
        self.partition = TopicPartition(topic, 0)
        self.book = book
        self.engine = engine
        self.seen = 0

    async def run(self) -> None:
        self.consumer.assign([self.partition])
        await self.consumer.seek_to_beginning(self.partition)
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000)
            for record in batches.get(self.partition, []):
                await self.learn(record.value)

    async def learn(self, value: bytes | None) -> None:
        if not value:
            return
        try:
            agreement = Agreement.from_dict(orjson.loads(value))
            added = self.book.add(agreement)
        except (AgreementError, ValueError, TypeError) as exc:
            log.warning("agreement record refused: %s", exc)
            return
        self.seen += 1
        if added:
            await store(self.engine, agreement)


async def store(engine: AsyncEngine, agreement: Agreement) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert_ignoring_duplicates(conn, agreements, "id", "version").values(
                id=agreement.id, version=agreement.version, body=orjson.dumps(agreement.to_dict()).decode()
            )
        )
