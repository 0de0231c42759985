"""Counterparts (往来县区): the counties a node's counties exchange records with, when each last acknowledged one
(its delivery receipt came back), what still awaits a receipt, and which look unreachable: a record published
longer ago than `unreachable_after` with no receipt yet."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.sql.tables import messages
from exchange.domain.clock import as_utc
from exchange.domain.delivery import Direction


class Counterparts:
    def __init__(self, engine: AsyncEngine, unreachable_after: timedelta):
        self.engine = engine
        self.unreachable_after = unreachable_after

    async def of(self, counties: list[str], now: datetime) -> list[dict[str, Any]]:
        """One row per (own county, counterpart): sent, last acknowledged, awaiting receipt and since when, last
        received; `unreachable` when a receipt is overdue. Counterparts that look unreachable first."""
        out, into = messages.alias("o"), messages.alias("i")
        sent = (select(out.c.sender.label("county"), out.c.receiver.label("counterpart"),
                       func.count().label("sent"), func.max(out.c.delivered_at).label("last_acknowledged"),
                       func.count(out.c.published_at).filter(out.c.delivered_at.is_(None)).label("awaiting"),
                       func.min(out.c.published_at).filter(out.c.delivered_at.is_(None)).label("awaiting_since"))
                .where(out.c.direction == Direction.OUT, out.c.sender.in_(counties), out.c.receiver.not_in(counties))
                .group_by(out.c.sender, out.c.receiver))
        received = (select(into.c.receiver.label("county"), into.c.sender.label("counterpart"),
                           func.count().label("received"), func.max(into.c.created_at).label("last_received"))
                    .where(into.c.direction == Direction.IN, into.c.receiver.in_(counties))
                    .group_by(into.c.receiver, into.c.sender))
        async with self.engine.connect() as conn:
            rows: dict[tuple[str, str], dict[str, Any]] = {}
            for r in (await conn.execute(sent)).all():
                rows[(r.county, r.counterpart)] = {
                    "county": r.county, "counterpart": r.counterpart, "sent": r.sent, "received": 0,
                    "last_acknowledged": as_utc(r.last_acknowledged), "awaiting": r.awaiting,
                    "awaiting_since": as_utc(r.awaiting_since), "last_received": None}
            for r in (await conn.execute(received)).all():
                row = rows.setdefault((r.county, r.counterpart), {
                    "county": r.county, "counterpart": r.counterpart, "sent": 0, "last_acknowledged": None,
                    "awaiting": 0, "awaiting_since": None})
                row.update(received=r.received, last_received=as_utc(r.last_received))
        for row in rows.values():
            since = row["awaiting_since"]
            row["unreachable"] = since is not None and now - since > self.unreachable_after
        return sorted(rows.values(), key=lambda r: (not r["unreachable"], r["county"], r["counterpart"]))
