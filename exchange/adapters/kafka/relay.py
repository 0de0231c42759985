"""The outbox relay: publishes stored records to Kafka in order, then marks them published.

Several replicas of one node may share one database; each runs a relay. A relay
**claims** the records it is about to publish (``claimed_by`` = its instance
name, ``claim_expires_at`` = now + lease) and renews the claim while the batch
is in flight, so no other relay publishes them. Two rules keep both guarantees
the outside relies on:

- *Never twice*: rows are claimed in one UPDATE whose candidate SELECT uses
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time, so
  the same UPDATE is already atomic there.
- *In order per destination partition*: a relay never claims a row of a
  partition in which another relay holds a live claim on an unpublished row,
  and claims are taken one relay at a time (a transaction-level advisory lock
  on PostgreSQL). So each partition has at most one publishing relay at a time
  and its records reach Kafka in the order the node accepted them.

A relay that dies leaves its claims to expire (``MPX_RELAY_LEASE_SECONDS``); a
restarted relay with the same instance name (node id, host and port) takes its
own claims back at once. If a lease expires while its holder is merely slow,
a record may be published twice: the receivers' inboxes drop the copy.

Records for a records topic leave sealed to the receiving county and signed by the sending one (`Trust.wire`,
at publication, under the keys current then). While a receiving county has published no sealing key, its records
wait in the outbox (they are never sent in clear); the relay leaves them out of its claims and looks again every
`AWAIT_KEY_SECONDS` (and as soon as it learns a key). Records of other counties go on.

A record leaves the outbox only after the broker acknowledged it (``acks=all``,
idempotent producer where the broker has it). Broker or database errors are
retried with bounded, jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.adapters.crypto.payload_crypto import PayloadKeyMissing
from exchange.adapters.crypto.trust import ReceiverKeyUnknown, Trust
from exchange.adapters.kafka.admin import TopicProvisioner
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import Metrics
from exchange.adapters.sql.database import writing
from exchange.adapters.sql.progress import Sent, advance_sent, outbox_sender
from exchange.adapters.sql.tables import outbox
from exchange.domain.clock import utcnow
from exchange.domain.delivery import DeliveryState
from exchange.domain.events import Noted

log = logging.getLogger(__name__)

MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
#: Advisory lock taken (per transaction) while claiming, so claims of several replicas never interleave.
CLAIM_LOCK = zlib.crc32(b"mpx.outbox.claim") & 0x7FFFFFFF
#: How often records held for a receiving county without a known sealing key are tried again.
AWAIT_KEY_SECONDS = 5.0


class Marking(Protocol):
    """The unit of work (exchange.adapters.unit_of_work.SqlUnitOfWork) as the relay uses it: the transaction that
    marks a batch published, and the evidence entries it records."""

    @property
    def conn(self) -> AsyncConnection: ...
    def record(self, *events: Noted) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...


class Relay:
    """One loop per node process. A record leaves the outbox only after the broker acknowledged it."""

    def __init__(self, engine: AsyncEngine, uow: Callable[[], Marking], provisioner: TopicProvisioner, topics: TopicScheme,
                 trust: Trust, metrics: Metrics, *, batch: int, idle_seconds: float, instance: str,
                 lease_seconds: float):
        self.engine = engine  # claims and leases: the relay's own bookkeeping on the outbox rows
        self.uow = uow  # marking rows published, with their evidence entries
        self.topics = topics
        #: Opens outbox values sealed at rest; seals and signs records for the wire.
        self.trust = trust
        #: Counts records the broker acknowledged.
        self.metrics = metrics
        #: Receiving counties whose sealing key is not known: their records are not claimed until this is cleared.
        self.awaiting_key: set[str] = set()
        self._awaiting_since = 0.0
        self.producer: AIOKafkaProducer | None = None
        self.provisioner = provisioner
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.instance = instance[:128]
        self.lease = timedelta(seconds=lease_seconds)
        self.wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self.published = 0
        self.failing = False  # the last attempt to publish failed (broker away?)
        # The batch acknowledged by the broker whose marking (a transaction) runs while the next batch is claimed
        # and sent; its rows are left out of that claim.
        self._marking: asyncio.Task | None = None
        self._marking_seqs: list[int] = []

    def wake(self) -> None:
        self.wakeup.set()

    def resume(self) -> None:
        """Run again after a stop (the node started again in the same process)."""
        self._stop.clear()

    def stop(self) -> None:
        """Finish the batch in flight, then return from run()."""
        self._stop.set()
        self.wakeup.set()

    async def run(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        backoff = MIN_BACKOFF
        while not self._stop.is_set():
            try:
                sent = await self.publish_once()
                backoff = MIN_BACKOFF
                self.failing = False
            # A value sealed with a payload key not configured: an operator's fix, retried like an outage.
            except (KafkaError, OSError, SQLAlchemyError, asyncio.TimeoutError, PayloadKeyMissing, InvalidTag) as exc:
                self.failing = True
                delay = backoff * random.uniform(0.5, 1.0)
                log.warning("publishing failed (%s); retrying in %.1fs", type(exc).__name__, delay)
                await self._pause(delay, wakeable=False)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if sent < self.batch:
                await self._pause(self.idle_seconds, wakeable=True)
        with contextlib.suppress(Exception):  # logged by the round that awaits it otherwise; here: best effort
            await self._marked()
        log.info("relay %s stopped after publishing %d records", self.instance, self.published)

    async def _pause(self, seconds: float, *, wakeable: bool) -> None:
        """Sleep; new records (if wakeable) or stop() end the sleep early."""
        event = self.wakeup if wakeable else self._stop
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        if wakeable:
            self.wakeup.clear()

    async def publish_once(self) -> int:
        """Claim, send and await the broker's acknowledgement of one batch; its marking overlaps the next round."""
        loop = asyncio.get_running_loop()
        if self.awaiting_key and loop.time() - self._awaiting_since > AWAIT_KEY_SECONDS:
            self.awaiting_key.clear()
        rows = await self._claim()
        wire, held = self._wire(rows)
        if held:
            await self._release(held)
            rows = [row for row in rows if row.seq in wire]
        if not rows:
            await self._marked()
            return 0
        renewing = asyncio.create_task(self._renew([row.seq for row in rows]))
        try:
            await self.provisioner.ensure({row.topic for row in rows})
            futures = [
                await self.producer.send(
                    row.topic,
                    value=wire[row.seq][1],
                    key=row.key.encode() if row.key else None,
                    partition=row.partition,
                    headers=wire[row.seq][0],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
        finally:
            renewing.cancel()
        self.metrics.published(row.topic for row in rows)
        await self._marked()  # one marking at a time
        self._marking_seqs = [row.seq for row in rows]
        self._marking = asyncio.create_task(self._mark_published(rows))
        self.published += len(rows)
        return len(rows)

    def _wire(self, rows: list) -> tuple[dict[int, tuple[list[tuple[str, bytes]], bytes]], list[int]]:
        """Headers and value of each row as it goes on the wire; and the rows held back (their receiving county has
        no known sealing key: that row and every later one of the county)."""
        wire: dict[int, tuple[list[tuple[str, bytes]], bytes]] = {}
        held: list[int] = []
        for row in rows:
            headers = [(k, v.encode()) for k, v in orjson.loads(row.headers)]
            value = self.trust.open_value(row.value, row.message_id)
            if self.topics.is_records_topic(row.topic):
                if row.key in self.awaiting_key:
                    held.append(row.seq)
                    continue
                try:
                    headers, value = self.trust.wire(headers, value)
                except ReceiverKeyUnknown as unknown:
                    log.warning("records to %s wait in the outbox: no sealing key of that county is known yet",
                                unknown.county)
                    if not self.awaiting_key:
                        self._awaiting_since = asyncio.get_running_loop().time()
                    self.awaiting_key.add(unknown.county)
                    held.append(row.seq)
                    continue
            wire[row.seq] = (headers, value)
        return wire, held

    async def _release(self, seqs: list[int]) -> None:
        """Give back the claim of rows not sent, so that they are claimed again later (in order)."""
        async with writing(self.engine, first=True) as conn:
            await conn.execute(update(outbox).where(outbox.c.seq.in_(seqs), outbox.c.claimed_by == self.instance)
                               .values(claimed_by=None, claim_expires_at=None, attempts=outbox.c.attempts - 1))

    def key_learned(self) -> None:
        """A sealing key was learned: records held for it go out in the next round."""
        if self.awaiting_key:
            self.awaiting_key.clear()
            self.wake()

    async def _marked(self) -> None:
        """Wait for the previous batch's marking; its errors surface here (its rows are then published again)."""
        marking, self._marking = self._marking, None
        try:
            if marking is not None:
                await marking
        finally:
            self._marking_seqs = []

    async def _claim(self) -> list:  # noqa: ANN401 - rows
        now = utcnow()
        async with writing(self.engine, first=True) as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
            held = outbox.alias("held")
            partition_held_by_another = (
                select(held.c.seq)
                .where(
                    held.c.topic == outbox.c.topic,
                    held.c.partition == outbox.c.partition,
                    held.c.published_at.is_(None),
                    held.c.claimed_by != self.instance,
                    held.c.claim_expires_at > now,
                )
                .exists()
            )
            candidates = (
                select(outbox.c.seq)
                .where(outbox.c.published_at.is_(None), ~partition_held_by_another,
                       outbox.c.seq.not_in(self._marking_seqs), outbox.c.key.not_in(sorted(self.awaiting_key)))
                .order_by(outbox.c.seq)
                .limit(self.batch)
            )
            if postgres:
                candidates = candidates.with_for_update(skip_locked=True, of=outbox)
            rows = (
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.seq.in_(candidates.scalar_subquery()))
                    .values(claimed_by=self.instance, claim_expires_at=now + self.lease,
                            attempts=outbox.c.attempts + 1)
                    .returning(outbox.c.seq, outbox.c.message_id, outbox.c.topic, outbox.c.partition,
                               outbox.c.key, outbox.c.headers, outbox.c.value)
                )
            ).all()
        return sorted(rows, key=lambda row: row.seq)

    async def _renew(self, seqs: list[int]) -> None:
        """Keep the claim alive while the batch is in flight (the broker may be slow or away)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with writing(self.engine, first=True) as conn:
                    await conn.execute(
                        update(outbox)
                        .where(outbox.c.seq.in_(seqs), outbox.c.claimed_by == self.instance,
                               outbox.c.published_at.is_(None))
                        .values(claim_expires_at=utcnow() + self.lease)
                    )
            except SQLAlchemyError as exc:
                log.warning("renewing the relay's claim failed (%s)", type(exc).__name__)

    async def _mark_published(self, rows: list) -> None:
        now = utcnow()
        seqs = [row.seq for row in rows]
        sent = [_sent(row) for row in rows]
        async with self.uow() as uow:
            # claimed_by stays: it records which relay published the record.
            await uow.conn.execute(
                update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=now, claim_expires_at=None)
            )
            await advance_sent(uow.conn, sent, DeliveryState.PUBLISHED, "published_at", now)
            uow.record(*(Noted("published", row.message_id, principal=self.instance,
                               detail={"topic": row.topic, "partition": row.partition, "key": row.key})
                         for row in rows))


def _sent(row) -> Sent | None:  # noqa: ANN001 - an outbox row
    """The message an outbox record publishes (None for records that are no message)."""
    sender = outbox_sender(row.headers)
    return Sent(sender, row.key, row.message_id) if sender else None
