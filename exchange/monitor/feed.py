"""Consumes the monitoring topic into the monitor's own table, for the provinces in its scope.

Every event carries the obligation's whole current state and a revision number, so
the copy is an upsert that keeps the highest revision: replays and reordering
across partitions change nothing. In the same transaction, each obligation a newer
revision changes moves its count in the summary (``exchange.monitor.summary``)
from its old key and status to the new ones.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.monitor import summary
from exchange.storage.sql import upsert, upsert_many
from exchange.storage.tables import consumer_offsets, monitor_obligations

log = logging.getLogger(__name__)

COLUMNS = [c.name for c in monitor_obligations.columns]
_DATETIMES = {"received_at", "due_at", "answered_at", "cancelled_at", "sender_due_at", "sent_at"}
_DATES = {"due_day", "sender_due_day"}


def row_of(event: dict[str, Any]) -> dict[str, Any]:
    row = {name: event.get(name) for name in COLUMNS}
    for name in _DATETIMES:
        row[name] = datetime.fromisoformat(row[name]) if row[name] else None
    for name in _DATES:
        row[name] = date.fromisoformat(row[name]) if row[name] else None
    return row


class MonitorFeed:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, partitions: int, engine: AsyncEngine,
                 in_scope: Callable[[str], bool]):
        self.consumer = consumer
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.engine = engine
        self.in_scope = in_scope
        self.applied = 0

    async def run(self) -> None:
        self.consumer.assign(self.partitions)
        async with self.engine.connect() as conn:
            saved = {(r.topic, r.partition): r.next_offset for r in await conn.execute(select(consumer_offsets))}
        ends = await self.consumer.end_offsets(self.partitions)
        for tp in self.partitions:
            position = saved.get((tp.topic, tp.partition))
            if position is not None and position <= ends.get(tp, position):
                self.consumer.seek(tp, position)
            else:  # never read, or a new cluster shorter than our position: revisions make replays harmless
                await self.consumer.seek_to_beginning(tp)
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=1000)
            if batches:
                await self.apply([m for records in batches.values() for m in records])

    async def apply(self, records) -> None:  # noqa: ANN001 - aiokafka ConsumerRecords
        """Store the newest revision of each obligation in the batch, and move its counts in the summary. An
        obligation is named like its record, (sender, message id): two counties may use the same id."""
        positions: dict[tuple[str, int], int] = {}
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for record in records:
            positions[(record.topic, record.partition)] = record.offset + 1
            try:
                event = orjson.loads(record.value)
                row = row_of(event)
            except (ValueError, TypeError, KeyError):
                log.warning("undecodable monitoring event at %s/%d@%d", record.topic, record.partition,
                            record.offset)
                continue
            if not (self.in_scope(row["receiver"]) or self.in_scope(row["sender"])):
                continue
            self.applied += 1
            key = (row["sender"], row["message_id"])
            seen = newest.get(key)
            if seen is None or seen["revision"] < row["revision"]:
                newest[key] = row
        async with self.engine.begin() as conn:
            await summary.lock(conn)
            stored: dict[tuple[str, str], Any] = {}
            if newest:  # as stored before this batch: the summary counts move from these
                query = select(monitor_obligations).where(
                    monitor_obligations.c.message_id.in_(sorted({message_id for _, message_id in newest})))
                stored = {(r.sender, r.message_id): r._mapping for r in await conn.execute(query)}
                stored = {key: row for key, row in stored.items() if key in newest}
            changes = [(stored.get(key), row) for key, row in newest.items()
                       if key not in stored or stored[key]["revision"] < row["revision"]]
            if changes:
                await conn.execute(upsert_many(conn, monitor_obligations, ["message_id", "sender"], COLUMNS,
                                               only_if=lambda new: monitor_obligations.c.revision < new.revision),
                                   [row for _, row in changes])
            await summary.move(conn, changes)
            for (topic, partition), offset in positions.items():
                await conn.execute(upsert(conn, consumer_offsets, ["topic", "partition"],
                                          {"topic": topic, "partition": partition, "next_offset": offset}))
