"""The inbound consumer: reads exactly the partitions of the counties this node serves.

Partitions are assigned by hand (no group rebalancing): each county's partition is
known from the topic scheme. Positions live in the node's database, written in the
same transaction as the records they cover, so a crash between the database
commit and the Kafka offset commit can only replay records the inbox then
recognises. Offsets are also committed to Kafka afterwards so operators see lag
with the usual tools.

**Replicas.** Several replicas of one node may share one PostgreSQL database. Each
partition is then consumed by one replica at a time: the one holding the
partition's PostgreSQL advisory lock (a session lock on a connection kept for
the purpose). A replica that dies loses its connection and with it its locks;
the others look for unowned partitions every few seconds and take them over,
starting from the positions in the database. A replica that stops gives its
partitions up only after its current transaction and Kafka commit (drain).
Should two replicas ever read the same records anyway (a lock connection lost
while its transaction still runs), the inbox drops the second copy.

**Provincial node group** (``MPX_CONSUMER_GROUP``). The replicas of a provincial
node (one database, all the province's counties) may instead split the
province's topics by Kafka's own group protocol. A rebalance then waits for the
batch in flight to be stored and committed before partitions are given up
(revoked), newly assigned partitions start from the positions in the database,
and records fetched for a partition revoked meanwhile are dropped, not stored.

**A partition keeps flowing.** A record that cannot be decoded or fails its
contract is quarantined by ``Inbound``. A record the database refuses (a
constraint or data error, the same every time) would otherwise be retried
forever and hold up every record behind it: when a batch fails that way, its
records are stored one by one and the one refused is quarantined as
``unstorable`` (replayable after a fix). Connection and other transient errors
are retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import select, text
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.adapters.kafka.control import appended_at
from exchange.adapters.metrics import Metrics
from exchange.adapters.sql.tables import consumer_offsets
from exchange.domain.message import Record

log = logging.getLogger(__name__)

OWNERSHIP_CHECK_SECONDS = 3.0
MAX_RETRY_SECONDS = 30.0
#: Errors that depend on the record, not on the moment: retrying cannot help.
REFUSED = (IntegrityError, DataError)


def _int4(value: int) -> int:
    return value - (1 << 32) if value >= (1 << 31) else value


_LOCK_CLASS = _int4(zlib.crc32(b"mpx.consume"))


def lock_key(tp: TopicPartition) -> tuple[int, int]:
    """The two-int advisory lock key of one partition (advisory locks are per database)."""
    return _LOCK_CLASS, _int4(zlib.crc32(f"{tp.topic}:{tp.partition}".encode()))


class PartitionLocks:
    """Which of the node's partitions this replica may consume. SQLite (one process): all of them."""

    def __init__(self, engine: AsyncEngine, partitions: set[TopicPartition]):
        self.engine = engine
        self.partitions = partitions
        self.postgres = engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None
        self.owned: set[TopicPartition] = set()

    async def acquire(self) -> set[TopicPartition]:
        """Keep what we hold, take what nobody holds; returns the partitions owned now."""
        if not self.postgres:
            self.owned = set(self.partitions)
            return self.owned
        try:
            if self._conn is None:
                conn = await self.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                self.owned = set()
            else:
                await self._conn.execute(text("SELECT 1"))
            for tp in sorted(self.partitions - self.owned):
                key = lock_key(tp)
                if await self._conn.scalar(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": key[0], "b": key[1]}):
                    self.owned.add(tp)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("partition locks lost (%s); consuming nothing until they are back", type(exc).__name__)
            await self._drop_connection()
            self.owned = set()
        return set(self.owned)

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await self._drop_connection()
        self.owned = set()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class _Rebalance(ConsumerRebalanceListener):
    """Group mode: drain before giving partitions up; resume from the database's positions."""

    def __init__(self, owner: Consumer):
        self.owner = owner

    async def on_partitions_revoked(self, revoked) -> None:  # noqa: ANN001
        async with self.owner.busy:  # the batch in flight is stored and its offsets committed
            if revoked:
                log.info("giving up %d partitions (rebalance), drained", len(revoked))

    async def on_partitions_assigned(self, assigned) -> None:  # noqa: ANN001
        self.owner.owned = set(assigned)
        log.info("consuming %d partitions (group): %s", len(assigned),
                 ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(assigned)) or "none")
        await self.owner.seek_saved(assigned, fallback=False)


Positions = dict[tuple[str, int], int]


class Receiver(Protocol):
    """Stores what the consumer reads (exchange.service.receiving.Inbound): returns the next offsets to commit and
    how many outbox records it added."""

    async def store(self, records: Sequence[Record]) -> tuple[Positions, int]: ...
    async def set_aside(self, record: Record, code: str, reason: str) -> tuple[Positions, int]: ...


class Consumer:
    def __init__(self, consumer: AIOKafkaConsumer, inbound: Receiver, engine: AsyncEngine,
                 partitions: set[TopicPartition], batch: int, on_stored: Callable[[], None], metrics: Metrics,
                 group_topics: set[str] | None = None):
        self.consumer = consumer
        self.inbound = inbound
        self.engine = engine
        self.partitions = partitions
        self.batch = batch
        self.on_stored = on_stored
        self.locks = PartitionLocks(engine, partitions)
        self.owned: set[TopicPartition] = set()
        self.stored = 0
        self.group_topics = group_topics  # group mode: these topics, split among the group's members
        self.busy = asyncio.Lock()  # held while a batch is stored and committed
        self._stop = asyncio.Event()
        self._retry = 1.0
        self.metrics = metrics  # sets the lag of each partition after a batch

    def stop(self) -> None:
        """Finish the transaction in flight and its Kafka commit, then return from run()."""
        self._stop.set()

    async def start_positions(self) -> None:
        if self.group_topics is None:
            self.consumer.assign(sorted(self.owned))
            await self.seek_saved(self.owned)
        else:
            await self.seek_saved(self.consumer.assignment())

    async def seek_saved(self, partitions, *, fallback: bool = True) -> None:  # noqa: ANN001
        """Position each partition where the database says; else at the Kafka commit, else at the beginning."""
        if not partitions:
            return
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(consumer_offsets))).all()
        saved = {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}
        ends = await self.consumer.end_offsets([tp for tp in partitions if tp in saved]) if saved else {}
        for tp in partitions:
            if tp in saved and saved[tp] > ends.get(tp, saved[tp]):
                # The partition is shorter than what we read: a new cluster (e.g. the embedded broker
                # restarted empty). Read it from the start; the inbox drops what we already have.
                log.warning("%s/%d ends at %d before our position %d; reading it from the start",
                            tp.topic, tp.partition, ends[tp], saved[tp])
                await self.consumer.seek_to_beginning(tp)
            elif tp in saved:
                self.consumer.seek(tp, saved[tp])
            elif fallback:
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.consumer.seek(tp, committed)
                else:
                    await self.consumer.seek_to_beginning(tp)

    async def _claim_partitions(self) -> None:
        owned = await self.locks.acquire()
        if owned != self.owned:
            log.info("consuming %d of %d partitions: %s", len(owned), len(self.partitions),
                     ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(owned)) or "none")
            self.owned = owned
            await self.start_positions()

    async def run(self) -> None:
        if self.group_topics is not None:
            await self._run_group()
            return
        loop = asyncio.get_running_loop()
        try:
            await self._claim_partitions()
            next_check = loop.time() + OWNERSHIP_CHECK_SECONDS
            while not self._stop.is_set():
                if loop.time() >= next_check or not self.owned:
                    if not self.owned:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stop.wait(), OWNERSHIP_CHECK_SECONDS)
                        if self._stop.is_set():
                            break
                    await self._claim_partitions()
                    next_check = loop.time() + OWNERSHIP_CHECK_SECONDS
                    continue
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch)
                records = [
                    Record(m.topic, m.partition, m.offset, m.key.decode(errors="replace") if m.key else None,
                           list(m.headers or ()), m.value, appended_at(m.timestamp, m.timestamp_type))
                    for messages in batches.values()
                    for m in messages
                ]
                if records:
                    await self._store(records)
        finally:
            await self.locks.release()
        log.info("consumer stopped after %d records", self.stored)

    async def _run_group(self) -> None:
        self.consumer.subscribe(topics=sorted(self.group_topics), listener=_Rebalance(self))
        while not self._stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch)
            if not batches:
                continue
            async with self.busy:
                assigned = self.consumer.assignment()  # a rebalance may have come between fetch and store
                records = [
                    Record(m.topic, m.partition, m.offset, m.key.decode(errors="replace") if m.key else None,
                           list(m.headers or ()), m.value, appended_at(m.timestamp, m.timestamp_type))
                    for tp, messages in batches.items() if tp in assigned
                    for m in messages
                ]
                if records:
                    await self._store(records)
        log.info("consumer stopped after %d records", self.stored)

    async def _store(self, records: list[Record]) -> bool:
        """Store a batch (or, if the database refuses it, its records one by one); False if it must be read again."""
        try:
            try:
                positions, sent = await self.inbound.store(records)
            except REFUSED as exc:
                if len(records) > 1:
                    log.warning("a batch of %d was refused (%s); storing its records one by one", len(records),
                                type(exc).__name__)
                    for record in records:
                        if not await self._store([record]):
                            return False
                    return True
                record = records[0]
                log.error("record %s/%d@%d refused by the database (%s); quarantined", record.topic,
                          record.partition, record.offset, type(exc).__name__)
                positions, sent = await self.inbound.set_aside(
                    record, "unstorable", f"the database refused it: {type(exc).__name__}")
        except Exception as exc:  # database away or similar: nothing was stored, read the same records again
            log.warning("storing %d inbound records failed (%s); retrying in %.0fs", len(records),
                        type(exc).__name__, self._retry)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._retry)
            self._retry = min(self._retry * 2, MAX_RETRY_SECONDS)
            with contextlib.suppress(Exception):
                await self.start_positions()
            return False
        self._retry = 1.0
        self.stored += len(records)
        if sent:
            self.on_stored()
        try:
            await self.consumer.commit({TopicPartition(t, p): o for (t, p), o in positions.items()})
        except (KafkaError, asyncio.TimeoutError) as exc:  # the database already holds the position
            log.debug("Kafka offset commit failed: %s", type(exc).__name__)
        for (topic, partition), position in positions.items():
            high = self.consumer.highwater(TopicPartition(topic, partition))  # as of the last fetch; no request
            if high is not None:
                self.metrics.lag(topic, partition, high - position)
        return True
