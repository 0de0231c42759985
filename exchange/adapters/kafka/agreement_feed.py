"""The agreements feed: every node reads the compacted agreements topic from the start and keeps reading,
so all nodes of a federation resolve deadlines from the same agreements.

Only agreements signed by a key the federation trusts for them are believed (exchange/adapters/crypto/signed_agreements.py);
a record that is malformed, unsigned, signed by another key or against the agreement rules is set aside in the
quarantine table with its reason, and the feed reads on."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.crypto.signed_agreements import AgreementKeys, AgreementRefused
from exchange.adapters.kafka.control import set_aside
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import agreements
from exchange.domain import Agreement, AgreementBook, AgreementError

log = logging.getLogger(__name__)


class AgreementFeed:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, book: AgreementBook, engine: AsyncEngine,
                 keys: AgreementKeys, seal: Callable[[bytes, str], bytes] | None = None):
        self.consumer = consumer
        self.partition = TopicPartition(topic, 0)
        self.book = book
        self.engine = engine
        self.keys = keys
        self.seal = seal
        self.seen = 0

    async def run(self) -> None:
        self.consumer.assign([self.partition])
        await self.consumer.seek_to_beginning(self.partition)
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000)
            for record in batches.get(self.partition, []):
                await self.learn(record)

    async def learn(self, record) -> None:  # noqa: ANN001 - an aiokafka ConsumerRecord
        if not record.value:
            return
        try:
            agreement = self.keys.verify(record.value)
            added = self.book.add(agreement)
        except (AgreementRefused, AgreementError) as exc:
            async with self.engine.begin() as conn:
                await set_aside(conn, record, getattr(exc, "code", "invalid_agreement"), f"agreement: {exc}",
                                self.seal)
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
