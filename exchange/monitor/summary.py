"""The monitor's summary of its obligations (table ``monitor_summary``), kept exactly equal to them.

Why: the receiver-side timeliness of a year at a national monitor covers millions of obligations, and reading
them row by row takes seconds; the summary holds their counts per (due day, deadline, receiver, agreement,
type, response days), and the answers add those up (``exchange.monitor.queries``).

What it can hold: only what does not change with time. Each obligation counts once, as cancelled, answered on
time, answered late, open, or paused (open whatever the time), as ``exchange.sla.clock.status`` decides those.
Overdue is decided at query time: an open, unpaused obligation is overdue when ``now > due_at``, and due_at is
part of the key, so that is exact for any deadline (also one not at 24:00). Response days are in the key only
for the answered ones that have them (the histogram's rows); everyone else has -1 there.

How it stays exact: the feed applies a batch with this table's lock held (PostgreSQL: a transaction-level
advisory lock; SQLite has one writer), reads the batch's obligations as stored, and for every obligation that
a newer revision changes moves one count from its old key and status to its new one, in the transaction that
writes the obligation. ``rebuild`` recomputes the whole summary from the table: the migration that creates it,
bulk loads, and ``mpx monitor rebuild-summary`` use it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.storage.sql import insert_or_add
from exchange.storage.tables import monitor_obligations as mo
from exchange.storage.tables import monitor_summary as ms
from exchange.timeutil import as_utc

KEY = ("due_day", "due_at", "receiver", "agreement_id", "agreement_version", "message_type", "response_days")
COUNTS = ("cancelled", "on_time", "late", "open", "paused")
#: response_days of the rows outside the response-time histogram (not answered, or answered without days).
NO_DAYS = -1
#: PostgreSQL advisory lock taken by whoever changes monitor_obligations (one feed at a time, exact deltas).
LOCK_ID = 0x6D6F6E53  # "monS"

Key = tuple[date, datetime, str, str, int, str, int]


def contribution(row: Mapping[str, Any]) -> tuple[Key, str]:
    """The summary key an obligation (a monitor_obligations row) counts under, and which count."""
    due_at = as_utc(row["due_at"])
    if row["cancelled_at"] is not None:
        status = "cancelled"
    elif row["answered_at"] is not None:
        status = "on_time" if as_utc(row["answered_at"]) <= due_at else "late"
    elif row["paused"]:
        status = "paused"
    else:
        status = "open"
    days = row["response_working_days"]
    if status not in ("on_time", "late") or days is None:
        days = NO_DAYS
    return (row["due_day"], due_at, row["receiver"], row["agreement_id"], row["agreement_version"],
            row["message_type"], days), status


async def lock(conn: AsyncConnection) -> None:
    """Serialise the writers of monitor_obligations until this transaction ends (PostgreSQL; SQLite has one)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})


async def move(conn: AsyncConnection, changes: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]) -> None:
    """Apply (stored row or None, new row) changes: each takes one count off its old key and adds one to its new.

    Call under ``lock``, in the transaction that writes the new rows, with the rows as stored before it.
    """
    deltas: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for old, new in changes:
        if old is not None:
            key, status = contribution(old)
            deltas[key][status] -= 1
        key, status = contribution(new)
        deltas[key][status] += 1
    moved = [{**dict(zip(KEY, key)), **counts} for key, counts in deltas.items() if any(counts.values())]
    if not moved:
        return
    await conn.execute(insert_or_add(conn, ms, list(KEY), list(COUNTS)), moved)
    # A key left with no obligation would show up as an empty group: remove it.
    emptied = [{f"k_{k}": r[k] for k in KEY} for r in moved if any(r[c] < 0 for c in COUNTS)]
    if emptied:
        await conn.execute(
            delete(ms).where(*(ms.c[k] == bindparam(f"k_{k}") for k in KEY), *(ms.c[c] == 0 for c in COUNTS)),
            emptied)


def _summary_select():  # noqa: ANN202 - a Select
    """monitor_obligations grouped into summary rows (the same statuses as ``contribution``)."""
    live = mo.c.cancelled_at.is_(None)
    answered = and_(live, mo.c.answered_at.is_not(None))
    unanswered = and_(live, mo.c.answered_at.is_(None))
    days = case((and_(answered, mo.c.response_working_days.is_not(None)), mo.c.response_working_days),
                else_=literal(NO_DAYS)).label("response_days")
    keys = [mo.c.due_day, mo.c.due_at, mo.c.receiver, mo.c.agreement_id, mo.c.agreement_version, mo.c.message_type]
    counts = [
        func.count(case((mo.c.cancelled_at.is_not(None), 1))).label("cancelled"),
        func.count(case((and_(answered, mo.c.answered_at <= mo.c.due_at), 1))).label("on_time"),
        func.count(case((and_(answered, mo.c.answered_at > mo.c.due_at), 1))).label("late"),
        func.count(case((and_(unanswered, mo.c.paused.is_(False)), 1))).label("open"),
        func.count(case((and_(unanswered, mo.c.paused.is_(True)), 1))).label("paused"),
    ]
    return select(*keys, days, *counts).group_by(*keys, days)


async def rebuild(conn: AsyncConnection) -> int:
    """Recompute the whole summary from monitor_obligations (under ``lock``); returns its number of rows."""
    await lock(conn)
    await conn.execute(delete(ms))
    await conn.execute(insert(ms).from_select([*KEY, *COUNTS], _summary_select()))
    return int(await conn.scalar(select(func.count()).select_from(ms)) or 0)


async def differences(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Summary rows that differ from a recount of monitor_obligations (empty when the summary is exact)."""
    recount = {tuple(r[:len(KEY)]): tuple(r[len(KEY):]) for r in await conn.execute(_summary_select())}
    stored = {tuple(r[:len(KEY)]): tuple(r[len(KEY):]) for r in await conn.execute(select(*ms.c))}
    zero = (0,) * len(COUNTS)
    return [{"key": k, "stored": stored.get(k, zero), "recount": recount.get(k, zero)}
            for k in sorted(recount.keys() | stored.keys(), key=repr)
            if stored.get(k, zero) != recount.get(k, zero)]
