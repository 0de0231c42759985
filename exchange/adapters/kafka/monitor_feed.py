"""Consumes the monitoring topic into the monitor's own table, for the provinces in its scope.

Every event carries the obligation's whole current state and a revision number, so
the copy is an upsert that keeps the highest revision: replays and reordering
across partitions change nothing. In the same transaction, each obligation a newer
revision changes moves its count in the summary (``exchange.adapters.sql.monitor_summary``)
from its old key and status to the new ones.

An event is believed only if it meets its contract (`contracts.control.MonitoringEvent`) and is signed by its
obligation's receiving county (the keys come from the keys topic, like a node's); an event about an obligation
stored under another receiver is refused (``foreign_obligation``). A refused event is set aside in the
quarantine table with its reason, and the feed reads on.

The same topic carries the counts of each monthly roster check (``cn.mpx.roster.answered``, `RosterFigures`), signed
by the roster's residence county, which answered it: kept per roster (or part) in ``monitor_roster``.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.control import MonitoringEvent, RosterFigures
from exchange.adapters.crypto.canonical import monitoring_event_bytes, roster_figures_bytes
from exchange.adapters.crypto.key_records import KEY_ID_HEADER, SIGNATURE_HEADER
from exchange.adapters.crypto.signing import KeyRing, SignatureError
from exchange.adapters.crypto.trust import header
from exchange.adapters.kafka.control import appended_at, set_aside
from exchange.adapters.sql import monitor_summary as summary
from exchange.adapters.sql.dialect import upsert, upsert_many
from exchange.adapters.sql.tables import consumer_offsets, monitor_obligations, monitor_roster
from exchange.domain.clock import utcnow

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

COLUMNS = [c.name for c in monitor_obligations.columns]
ROSTER_COLUMNS = [c.name for c in monitor_roster.columns]


def _header(record, name: str) -> str | None:  # noqa: ANN001 - an aiokafka ConsumerRecord
    return header(record.headers or (), name)


class Refused(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def _believed(record, ring: KeyRing, model: type[M], signer: Callable[[M], str],  # noqa: ANN001 - a ConsumerRecord
              signed: Callable[[dict[str, Any]], bytes], what: str) -> M:
    """The event a record carries, if it meets its contract `model` and the county `signer` names signed it (the
    bytes `signed` makes of it); else Refused."""
    try:
        body = orjson.loads(record.value)
        event = model.model_validate(body)
    except (ValueError, TypeError, ValidationError) as exc:
        raise Refused("malformed", f"{what}: not a valid event ({type(exc).__name__})") from None
    try:
        ring.verify(signer(event), _header(record, KEY_ID_HEADER), _header(record, SIGNATURE_HEADER), signed(body),
                    appended_at(record.timestamp, record.timestamp_type) or utcnow())
    except SignatureError as exc:
        raise Refused(exc.code, f"{what}: {exc}") from None
    return event


def row_of(record, ring: KeyRing) -> dict[str, Any]:  # noqa: ANN001 - an aiokafka ConsumerRecord
    """The obligation row an event carries, if it meets its contract and its receiver signed it; else Refused."""
    event = _believed(record, ring, MonitoringEvent, lambda e: e.receiver, monitoring_event_bytes, "monitoring event")
    return {name: getattr(event, name) for name in COLUMNS}


def roster_row_of(record, ring: KeyRing) -> dict[str, Any]:  # noqa: ANN001 - an aiokafka ConsumerRecord
    """The counts of a roster check (``cn.mpx.roster.answered``), if they meet their contract and the roster's
    residence county signed them; else Refused."""
    figures = _believed(record, ring, RosterFigures, lambda f: f.residence_county, roster_figures_bytes,
                        "roster figures")
    return {name: getattr(figures, name) for name in ROSTER_COLUMNS}


def _is_roster(record) -> bool:  # noqa: ANN001
    return (_header(record, "ce_type") or "").startswith("cn.mpx.roster.")


def _owner(record) -> str | None:  # noqa: ANN001 - the record key is the receiving county
    return record.key.decode(errors="replace") if isinstance(record.key, bytes) else record.key


class MonitorFeed:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, partitions: int, engine: AsyncEngine,
                 in_scope: Callable[[str], bool], ring: KeyRing, refresh_keys: Callable[[], Awaitable[bool]]):
        self.ring = ring
        #: Awaited before a batch with an event signed by a key not known yet: reads the keys topic to its end.
        self.refresh_keys = refresh_keys
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
        refused: list[tuple[Any, Refused]] = []
        if any(
                (_header(r, "ce_type") or "").startswith(("cn.mpx.obligation.", "cn.mpx.roster.")) and (_owner(r), _header(
                    r, KEY_ID_HEADER)) not in self.ring.public for r in records if _header(r, KEY_ID_HEADER)):
            await self.refresh_keys()  # an event may have overtaken its county's key
        sources: dict[tuple[str, str], Any] = {}
        checks: dict[tuple[str, str], dict[str, Any]] = {}  # the counts of rosters answered, by roster
        for record in records:
            positions[(record.topic, record.partition)] = record.offset + 1
            if _is_roster(record):
                try:
                    figures = roster_row_of(record, self.ring)
                except Refused as exc:
                    refused.append((record, exc))
                    continue
                if self.in_scope(figures["registration_county"]) or self.in_scope(figures["residence_county"]):
                    self.applied += 1
                    checks[(figures["registration_county"], figures["roster_id"])] = figures
                continue
            try:
                row = row_of(record, self.ring)
            except Refused as exc:
                refused.append((record, exc))
                continue
            if not (self.in_scope(row["receiver"]) or self.in_scope(row["sender"])):
                continue
            self.applied += 1
            key = (row["sender"], row["message_id"])
            seen = newest.get(key)
            if seen is not None and seen["receiver"] != row["receiver"]:
                refused.append((record, Refused("foreign_obligation", "monitoring event: another county's "
                                                "obligation")))
            elif seen is None or seen["revision"] < row["revision"]:
                newest[key] = row
                sources[key] = record
        async with self.engine.begin() as conn:
            await summary.lock(conn)
            stored: dict[tuple[str, str], Any] = {}
            if newest:  # as stored before this batch: the summary counts move from these
                query = select(monitor_obligations).where(
                    monitor_obligations.c.message_id.in_(sorted({message_id for _, message_id in newest})))
                stored = {(r.sender, r.message_id): r._mapping for r in await conn.execute(query)}
                stored = {key: row for key, row in stored.items() if key in newest}
            for key in [k for k, row in newest.items() if k in stored and stored[k]["receiver"] != row["receiver"]]:
                refused.append((sources[key], Refused(
                    "foreign_obligation", "monitoring event: the obligation belongs to another receiver")))
                del newest[key]
            for record, exc in refused:
                await set_aside(conn, record, exc.code, str(exc))
            changes = [(stored.get(key), row) for key, row in newest.items()
                       if key not in stored or stored[key]["revision"] < row["revision"]]
            if changes:
                await conn.execute(upsert_many(conn, monitor_obligations, ["message_id", "sender"], COLUMNS,
                                               only_if=lambda new: monitor_obligations.c.revision < new.revision),
                                   [row for _, row in changes])
            await summary.move(conn, changes)
            if checks:  # one answer per roster: a replay writes the same counts again
                await conn.execute(upsert_many(conn, monitor_roster, ["registration_county", "roster_id"],
                                               ROSTER_COLUMNS), list(checks.values()))
            for (topic, partition), offset in positions.items():
                await conn.execute(upsert(conn, consumer_offsets, ["topic", "partition"],
                                          {"topic": topic, "partition": partition, "next_offset": offset}))
