"""Reconciliation (anti-entropy): silent loss between two databases becomes visible and heals.

Every day (``MPX_RECONCILE_AT``, China time, for the day before) and whenever
an operator asks (``POST /v1/reconciliation/run``), a node sends each peer
county, for each county it serves, a **digest** of the messages that county
accepted for the peer on one China day: the count, a SHA-256 over the sorted
ids and the ids themselves (contracts/payloads/reconciliation.py). The digest
goes through the outbox like any record, behind the messages it covers and on
the same partition, so a receiver that consumes the digest has already
consumed everything the digest lists, unless something was lost.

The receiver looks the ids up among the messages it holds. For any it lacks it
records the gap (``GET /v1/reconciliation``), forgets the ids in its inbox
(a record deleted behind the node's back may have left its deduplication row;
that row would make the node drop the copy it asks for) and sends a **resend
request** with those ids. The sender copies the original outbox records of
those ids, addressed to that peer only, back into its outbox; the relay
publishes them again and the receiver stores them like any record.

A message is (sending county, id) here as everywhere: a digest speaks only for
what its sender sent its receiver, and a resend request gets only what its
receiver sent its sender, so a county can neither make a node forget another
county's records nor obtain them. Control records carry no personal data, and
are deduplicated on (sender, id) in the inbox like everything else.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any, Callable

import orjson
from sqlalchemy import delete, insert, select

from contracts import Envelope, MessageType
from contracts.payloads.reconciliation import MAX_IDS, ids_sha256
from exchange.adapters.crypto import evidence
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.progress import chunks, outbox_sender
from exchange.adapters.sql.tables import inbox, messages, outbox, reconciliation, reconciliation_runs
from exchange.config import Settings
from exchange.domain.clock import SHANGHAI, as_utc, china_date, utcnow
from exchange.domain.delivery import Direction
from exchange.domain.events import MessageSent, ResendAsked
from exchange.domain.message import Outgoing, new_envelope
from exchange.domain.obligation import end_of_day, start_of_day
from exchange.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class Reconciler:
    """Sends digests, checks the digests it receives, serves the resend requests it receives."""

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, topics: TopicScheme,
                 wake_relay: Callable[[], None], instance: str):
        self.settings = settings
        self.uow = uow
        self.topics = topics
        self.wake_relay = wake_relay
        self.instance = instance

    # -- sender side -------------------------------------------------------------------------------------

    async def run(self, day: date | None = None) -> dict[str, Any]:
        """Queue today's (or `day`'s) digests now; returns what was sent."""
        now = utcnow()
        day = day or china_date(now)
        async with self.uow() as uow:
            sent = await self._digests(uow, day, now)
        if sent:
            self.wake_relay()
        return {"day": day.isoformat(), "until": as_utc(min(end_of_day(day), now)).isoformat(), "digests": sent}

    async def run_daily(self) -> None:
        """Forever: at MPX_RECONCILE_AT (China time) digest the day before; catch up once if started later."""
        if not self.settings.reconcile_at:
            return
        hour, minute = (int(p) for p in self.settings.reconcile_at.split(":"))
        while True:
            now = utcnow()
            local = now.astimezone(SHANGHAI)
            due_today = datetime.combine(local.date(), time(hour, minute), SHANGHAI)
            if local >= due_today:
                try:
                    await self._daily(local.date() - timedelta(days=1), now)
                except Exception as exc:  # noqa: BLE001 - try again at the next turn
                    log.warning("daily reconciliation failed (%s); retrying in a minute", type(exc).__name__)
                    await asyncio.sleep(60)
                    continue
                due_next = due_today + timedelta(days=1)
            else:
                due_next = due_today
            await asyncio.sleep(max(1.0, min((due_next - local).total_seconds(), 3600)))

    async def _daily(self, day: date, now: datetime) -> None:
        async with self.uow() as uow:
            first = await uow.conn.execute(
                insert_ignoring_duplicates(uow.conn, reconciliation_runs, "day").values(
                    day=day, started_by=self.instance[:128], started_at=now)
            )
            if first.rowcount == 0:
                return  # done already, here or by another replica
            sent = await self._digests(uow, day, now)
        log.info("daily reconciliation for %s: %d digest records", day, sum(d["parts"] for d in sent))
        if sent:
            self.wake_relay()

    async def _digests(self, uow: UnitOfWork, day: date, now: datetime) -> list[dict[str, Any]]:
        start, until = as_utc(start_of_day(day)), as_utc(min(end_of_day(day), now))
        conn = uow.conn
        rows = await conn.execute(
            select(messages.c.id, messages.c.sender, messages.c.receiver).where(
                messages.c.direction == Direction.OUT,
                messages.c.sender.in_(sorted(self.settings.served)),
                messages.c.created_at >= start,
                messages.c.created_at < until,
            )
        )
        by_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in rows:
            by_pair[(row.sender, row.receiver)].append(row.id)
        sent = []
        head = await uow.chain_head()  # the peers keep it: this node's operator cannot rewrite its chain unseen
        for (county, peer), ids in sorted(by_pair.items()):
            ids.sort()
            parts = [ids[i : i + MAX_IDS] for i in range(0, len(ids), MAX_IDS)]
            for number, part in enumerate(parts, start=1):
                data = {
                    "day": day.isoformat(), "until": until.isoformat(), "total": len(ids), "part": number,
                    "parts": len(parts), "count": len(part), "sha256": ids_sha256(part), "ids": part,
                    "sender_node_id": self.settings.node_id,
                }
                if head is not None:
                    data["chain_head"] = head
                envelope = self._envelope(MessageType.RECONCILIATION_DIGEST, county, peer, now, "1.1")
                uow.record(MessageSent(Outgoing(envelope, data, "")))
                await conn.execute(insert(reconciliation).values(
                    kind="digest_sent", county=county, peer=peer, day=day, digest_id=envelope.id, part=number,
                    parts=len(parts), total=len(ids), count=len(part), missing=0, created_at=now))
            sent.append({"county": county, "peer": peer, "total": len(ids), "parts": len(parts)})
        return sent

    # -- receiving control records (called by Inbound inside the consumer's transaction) -------------------

    async def receive(self, uow: UnitOfWork, record: Any, envelope: Envelope, data: dict[str, Any],
                      now: datetime) -> None:
        """Handle a digest or resend request once."""
        conn = uow.conn
        first = await conn.execute(
            insert_ignoring_duplicates(conn, inbox, "message_id", "sender").values(
                message_id=envelope.id, sender=envelope.senderregion, type=envelope.message_type.value,
                topic=record.topic, partition=record.partition, offset=record.offset, received_at=now)
        )
        if first.rowcount == 0:
            return
        if envelope.message_type is MessageType.RECONCILIATION_DIGEST:
            await self._check(uow, envelope, data, now)
        else:
            await self._serve(uow, envelope, data, now)

    async def _check(self, uow: UnitOfWork, envelope: Envelope, data: dict[str, Any], now: datetime) -> None:
        """Receiver: which of the digest's ids do we lack? Record it, and ask for them again."""
        conn = uow.conn
        county, peer = envelope.receiverregion, envelope.senderregion
        ids: list[str] = data["ids"]
        have: set[str] = set()
        for chunk in chunks(ids):
            have.update(
                await conn.scalars(
                    select(messages.c.id).where(messages.c.direction == Direction.IN, messages.c.receiver == county,
                                                messages.c.sender == peer, messages.c.id.in_(chunk))
                )
            )
        missing = sorted(set(ids) - have)
        day = date.fromisoformat(data["day"])
        if data.get("chain_head"):
            await evidence.keep_peer_heads(conn, [
                evidence.peer_head(data["sender_node_id"], data["chain_head"], peer, envelope.id, now)])
        await conn.execute(insert(reconciliation).values(
            kind="digest_checked", county=county, peer=peer, day=day, digest_id=envelope.id, part=data["part"],
            parts=data["parts"], total=data["total"], count=data["count"], missing=len(missing),
            missing_ids=orjson.dumps(missing).decode() if missing else None, created_at=now))
        if not missing:
            log.info("reconciliation %s->%s %s part %d/%d: all %d present", peer, county, day, data["part"],
                     data["parts"], len(ids))
            return
        log.warning("reconciliation %s->%s %s part %d/%d: %d of %d missing; asking for them again", peer, county,
                    day, data["part"], data["parts"], len(missing), len(ids))
        for chunk in chunks(missing):
            await conn.execute(delete(inbox).where(inbox.c.sender == peer, inbox.c.message_id.in_(chunk)))
        request = self._envelope(MessageType.RESEND_REQUEST, county, peer, now)
        body = {"digest_id": envelope.id, "day": day.isoformat(), "ids": missing}
        uow.record(MessageSent(Outgoing(request, body, "")))

    async def _serve(self, uow: UnitOfWork, envelope: Envelope, data: dict[str, Any], now: datetime) -> None:
        """Sender: publish again, from our outbox, the records the peer says it lacks (only ones addressed to it)."""
        conn = uow.conn
        county, peer = envelope.receiverregion, envelope.senderregion
        ids: list[str] = data["ids"]
        found: list[str] = []
        for chunk in chunks(ids):
            found += await conn.scalars(
                select(messages.c.id).where(messages.c.direction == Direction.OUT, messages.c.sender == county,
                                            messages.c.receiver == peer, messages.c.id.in_(chunk))
            )
        copied = 0
        topic = self.topics.topic_for(peer)
        for chunk in chunks(found):
            # The latest record of each id that this county sent (another county of this node may use the same id).
            rows = await conn.execute(select(outbox).where(outbox.c.message_id.in_(chunk), outbox.c.topic == topic,
                                                           outbox.c.key == peer).order_by(outbox.c.seq))
            latest = {r.message_id: r for r in rows if outbox_sender(r.headers) == county}
            originals = sorted(r.seq for r in latest.values())
            uow.record(ResendAsked(peer, originals))
            copied += len(originals)
        unknown = sorted(set(ids) - set(found))
        await conn.execute(insert(reconciliation).values(
            kind="resend_served", county=county, peer=peer, day=date.fromisoformat(data["day"]),
            digest_id=data["digest_id"], part=1, parts=1, total=len(ids), count=copied, missing=len(unknown),
            missing_ids=orjson.dumps(unknown).decode() if unknown else None, created_at=now))
        log.warning("resend request from %s: %d of %d records queued again for %s", peer, copied, len(ids), county)
        return copied

    def _envelope(self, message_type: MessageType, sender: str, receiver: str, now: datetime,
                  schema_version: str = "1.0") -> Envelope:
        return new_envelope(message_type=message_type, schema_version=schema_version, sender=sender,
                            receiver=receiver, now=now, message_id=str(uuid.uuid4()))

    # -- what operators read --------------------------------------------------------------------------------

    async def report(self, *, day: date | None = None, peer: str | None = None, limit: int = 200,
                     counties: list[str] | None = None) -> dict[str, Any]:
        """Digests sent and checked and resend requests served, newest first; a gap shows what is still missing.
        `counties`: only these served counties' (None: all)."""
        query = select(reconciliation).order_by(reconciliation.c.seq.desc()).limit(limit)
        if counties is not None:
            query = query.where(reconciliation.c.county.in_(counties))
        if day is not None:
            query = query.where(reconciliation.c.day == day)
        if peer is not None:
            query = query.where(reconciliation.c.peer == peer)
        async with self.uow() as uow:
            conn = uow.conn
            rows = (await conn.execute(query)).all()
            items = []
            for row in rows:
                item = {
                    "seq": row.seq, "kind": row.kind, "county": row.county, "peer": row.peer,
                    "day": row.day.isoformat(), "digest_id": row.digest_id, "part": row.part, "parts": row.parts,
                    "total": row.total, "count": row.count, "missing": row.missing,
                    "missing_ids": orjson.loads(row.missing_ids) if row.missing_ids else [],
                    "at": as_utc(row.created_at).isoformat(),
                }
                if row.kind == "digest_checked":
                    still = [i for i in item["missing_ids"]]
                    for chunk in chunks(list(still)):
                        arrived = set(await conn.scalars(
                            select(messages.c.id).where(messages.c.direction == Direction.IN,
                                                        messages.c.receiver == row.county,
                                                        messages.c.sender == row.peer, messages.c.id.in_(chunk))))
                        still = [i for i in still if i not in arrived]
                    item["still_missing"] = len(still)
                    item["status"] = "complete" if not row.missing else ("healed" if not still else "gap")
                items.append(item)
        gaps = sum(1 for i in items if i.get("status") == "gap")
        return {"items": items, "open_gaps": gaps}
