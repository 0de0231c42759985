"""The keys feed: every node reads the compacted keys topic from the start and keeps reading, so it knows the
public keys of every county; and it publishes its own counties' keys there.

Topic ``<prefix>.keys``, one partition, compacted; record key ``<county>:<key id>``,
value a `KeyRecord` (JSON: the public key with its validity, and its endorsement), or a `KeyRevocation` under
``revoked:<use>:<county>:<key id>``. A record that breaks its contract or the endorsement rules is set aside in
the quarantine table with its reason; the feed reads on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from exchange.adapters.crypto.key_records import KeyRecord, KeyRefused, KeyRevocation
from exchange.adapters.crypto.trust import RELOAD_SECONDS, Trust
from exchange.adapters.kafka.control import appended_at, set_aside
from exchange.domain.clock import utcnow

log = logging.getLogger(__name__)


class KeyFeed:
    def __init__(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, topic: str, trust: Trust):
        self.consumer = consumer
        self.producer = producer
        self.partition = TopicPartition(topic, 0)
        self.trust = trust
        self.position = -1  # next offset to read; -1 until the feed has started reading
        self.seen = 0
        self._moved = asyncio.Event()

    async def publish(self, records: list[KeyRecord | KeyRevocation]) -> None:
        """Put key records on the topic and wait for the broker's acknowledgement."""
        for record in records:
            await self.producer.send_and_wait(self.partition.topic, record.to_bytes(), key=record.kafka_key.encode(),
                                              partition=0, headers=[("content-type", b"application/json")])

    async def run(self) -> None:
        self.consumer.assign([self.partition])
        await self.consumer.seek_to_beginning(self.partition)
        self.position = await self.consumer.position(self.partition)
        self._moved.set()
        while True:
            batches = await self.consumer.getmany(self.partition, timeout_ms=500)
            for record in batches.get(self.partition, []):
                await self.learn(record)
                self.seen += 1
            self.position = await self.consumer.position(self.partition)
            self._moved.set()

    async def learn(self, record) -> None:  # noqa: ANN001 - an aiokafka ConsumerRecord
        """One record: believed, or set aside with its reason; never stops the feed."""
        try:
            learned = await self.trust.learn(record.value,
                                             appended_at(record.timestamp, record.timestamp_type) or utcnow())
            if any(county in self.trust.counties for county, _ in learned.revoked) and self.producer is not None:
                await self.trust.reload(self.publish)  # one of our keys revoked: sign with the new one at once
        except KeyRefused as refused:
            async with self.trust.engine.begin() as conn:
                await set_aside(conn, record, refused.code, f"key record: {refused}", self.trust.seal_value)

    async def catch_up(self, timeout: float | None = None) -> bool:
        """Wait until every key record on the topic now has been read; False if that took longer than `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else 10.0)
        try:
            end = (await asyncio.wait_for(self.consumer.end_offsets([self.partition]),
                                          max(0.1, deadline - loop.time())))[self.partition]
        except Exception as exc:  # noqa: BLE001 - broker away: not caught up
            log.warning("keys topic end offset unknown (%s)", type(exc).__name__)
            return False
        while self.position < end:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), min(remaining, 0.5))
        return True

    async def reload_forever(self) -> None:
        """Adopt keys a rotation added to the database (publishing them first), every RELOAD_SECONDS."""
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.trust.reload(self.publish)
            except Exception as exc:  # noqa: BLE001 - broker or database away: the next round tries again
                log.warning("reloading signing keys failed (%s); keeping the current ones", type(exc).__name__)
