"""Appending to the evidence chain inside the transactions whose effects it records (called by the unit of work
only, exchange/adapters/unit_of_work.py), and reading it back.

The chain is one sequence per node, so appends are serialized: on PostgreSQL by
a transaction-scoped advisory lock (replicas of a node share the chain); on
SQLite by the database's single writer (the unit of work takes the write lock
before it reads the chain's head).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.adapters.crypto.audit import GENESIS, entry_hash, verify_chain
from exchange.adapters.sql.dialect import hold_chain, insert_ignoring_duplicates
from exchange.adapters.sql.tables import audit_log, peer_chain_heads


async def append_many(conn: AsyncConnection, events: list[dict[str, Any]], *, at: datetime) -> None:
    """Chain `events` (dicts of event, message_id, county, principal, detail) after the last entry."""
    if not events:
        return
    await hold_chain(conn)
    last = await head(conn)
    seq, previous = (last["seq"], last["hash"]) if last else (0, GENESIS)
    rows = []
    for event in events:
        seq += 1
        detail = event.get("detail")
        entry = {"seq": seq, "at": at.isoformat(), "event": event["event"], "message_id": event.get("message_id"),
                 "county": event.get("county"), "principal": event.get("principal"),
                 "detail": orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode() if detail else None}
        chained = entry_hash(previous, entry)
        rows.append({**entry, "at": at, "prev_hash": previous, "hash": chained})
        previous = chained
    await conn.execute(insert(audit_log), rows)


async def head(conn: AsyncConnection) -> dict[str, Any] | None:
    """The last entry, {"seq", "hash"}: what receipts and digests carry to the peers, who keep it (`check_heads`)."""
    last = (await conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
                               .limit(1))).first()
    return {"seq": last.seq, "hash": last.hash} if last else None


def peer_head(node_id: str, chain_head: dict[str, Any], peer: str, message_id: str, at: datetime) -> dict[str, Any]:
    """The row kept of a peer node's chain head, carried by a record from county `peer`."""
    return {"node_id": node_id, "seq": chain_head["seq"], "hash": chain_head["hash"], "peer": peer,
            "message_id": message_id, "received_at": at}


async def keep_peer_heads(conn: AsyncConnection, heads: list[dict[str, Any]]) -> None:
    """Heads of peers' chains (`peer_head` rows), from their receipts and digests."""
    if heads:
        await conn.execute(insert_ignoring_duplicates(conn, peer_chain_heads, "node_id", "seq"), heads)


async def peer_heads(engine: AsyncEngine, node_id: str) -> list[dict[str, Any]]:
    """The heads of `node_id`'s chain this node holds, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(peer_chain_heads).where(peer_chain_heads.c.node_id == node_id)
                                  .order_by(peer_chain_heads.c.seq))
        return [{"node_id": r.node_id, "peer": r.peer, "seq": r.seq, "hash": r.hash, "message_id": r.message_id,
                 "received_at": r.received_at.isoformat()} for r in rows]


def check_heads(chain: list[dict[str, Any]], heads: list[dict[str, Any]]) -> list[int]:
    """The seqs of heads a peer holds that this chain does not have as they were: entries rewritten (hashes
    recomputed after an edit), removed, or the chain cut short."""
    hashes = {entry["seq"]: entry["hash"] for entry in chain}
    return [h["seq"] for h in heads if hashes.get(h["seq"]) != h["hash"]]


def _as_entry(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "at": row.at.isoformat(), "event": row.event, "message_id": row.message_id,
            "county": row.county, "principal": row.principal, "detail": row.detail, "prev_hash": row.prev_hash,
            "hash": row.hash}


async def entries(engine: AsyncEngine, message_ids: list[str] | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.seq)
    if message_ids is not None:
        query = query.where(audit_log.c.message_id.in_(message_ids))
    async with engine.connect() as conn:
        return [_as_entry(r) for r in await conn.execute(query)]


async def verify(engine: AsyncEngine) -> tuple[int, int | None]:
    """(entries checked, seq of the first broken entry or None)."""
    chain = await entries(engine)
    return len(chain), verify_chain(chain)
