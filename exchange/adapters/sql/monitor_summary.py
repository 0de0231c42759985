"""The monitor's summary of its obligations (table ``monitor_summary``), kept exactly equal to them.

Why: the receiver-side timeliness of a year at a national monitor covers millions of obligations, and reading
them row by row takes seconds; the summary holds their counts per (due day, deadline, receiver, agreement,
type, response days, urgency: a verification request's, "" for a record), and the answers add those up (``exchange.service.monitoring``). The sender side has its
own, smaller one (``monitor_sender_summary``): per (sender-side due day, sender, agreement, type), how many
obligations with a sender-side deadline, not cancelled, there are and how many of them were sent late.

What it can hold: only what does not change with time. Each obligation counts once, as cancelled, answered on
time, answered late, open, or paused (open whatever the time), as ``exchange.domain.obligation.status`` decides those.
Overdue is decided at query time: an open, unpaused obligation is overdue when ``now > due_at``, and due_at is
part of the key, so that is exact for any deadline (also one not at 24:00). Response days are in the key only
for the answered ones that have them (the histogram's rows); everyone else has -1 there. Beside the statuses, of
the obligations not cancelled: how many were clarified (``exchange.domain.figures.clarified``) and their working
days paused, summed.

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

from sqlalchemy import Table, and_, bindparam, case, delete, func, insert, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.dialect import insert_or_add
from exchange.adapters.sql.tables import monitor_obligations as mo
from exchange.adapters.sql.tables import monitor_sender_summary as mss
from exchange.adapters.sql.tables import monitor_summary as ms
from exchange.domain.clock import as_utc
from exchange.domain.figures import TimelinessRow
from exchange.domain.figures import clarified as was_clarified

KEY = ("due_day", "due_at", "receiver", "agreement_id", "agreement_version", "message_type", "response_days",
       "urgency")
#: withdrawn: of the cancelled; clarified and paused_working_days (a sum): of the others.
COUNTS = ("cancelled", "on_time", "late", "open", "paused", "withdrawn", "clarified", "paused_working_days")
#: response_days of the rows outside the response-time histogram (not answered, or answered without days).
NO_DAYS = -1
#: PostgreSQL advisory lock taken by whoever changes monitor_obligations (one feed at a time, exact deltas).
LOCK_ID = 0x6D6F6E53  # "monS"

SENDER_KEY = ("sender_due_day", "sender", "agreement_id", "agreement_version", "message_type")

Key = tuple[date, datetime, str, str, int, str, int, str]
SenderKey = tuple[date, str, str, int, str]


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
            row["message_type"], days, row.get("urgency") or ""), status


def _clarified(row: Mapping[str, Any]) -> bool:
    return was_clarified(TimelinessRow(due_at=row["due_at"], paused=row["paused"],
                                       paused_working_days=row["paused_working_days"],
                                       pause_count=row.get("pause_count") or 0))


def sender_contribution(row: Mapping[str, Any]) -> tuple[SenderKey, bool] | None:
    """The sender-side key of an obligation and whether it was sent late; None if it counts on no sender side."""
    if row["sender_due_day"] is None or row["cancelled_at"] is not None:
        return None
    key = (row["sender_due_day"], row["sender"], row["agreement_id"], row["agreement_version"], row["message_type"])
    return key, row["sender_late"] is True


async def lock(conn: AsyncConnection) -> None:
    """Serialise the writers of monitor_obligations until this transaction ends (PostgreSQL; SQLite has one)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})


async def move(conn: AsyncConnection, changes: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]) -> None:
    """Apply (stored row or None, new row) changes: each takes one count off its old key and adds one to its new.

    Call under ``lock``, in the transaction that writes the new rows, with the rows as stored before it.
    """
    deltas: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    sender: dict[SenderKey, dict[str, int]] = defaultdict(lambda: {"due": 0, "late": 0})
    for old, new in changes:
        for row, step in ((old, -1), (new, 1)):
            if row is None:
                continue
            key, status = contribution(row)
            deltas[key][status] += step
            if status == "cancelled" and row.get("cancel_reason") == "withdrawn":
                deltas[key]["withdrawn"] += step
            if status != "cancelled" and _clarified(row):
                deltas[key]["clarified"] += step
                deltas[key]["paused_working_days"] += step * row["paused_working_days"]
            side = sender_contribution(row)
            if side is not None:
                sender[side[0]]["due"] += step
                sender[side[0]]["late"] += step * side[1]
    await _add(conn, mss, SENDER_KEY, ("due", "late"), sender)
    await _add(conn, ms, KEY, COUNTS, deltas)


async def _add(conn: AsyncConnection, table: Table, key_columns: tuple[str, ...], counts: tuple[str, ...],
               deltas: Mapping[tuple, Mapping[str, int]]) -> None:
    """Add the deltas to the table's rows by key, and delete the rows they leave with no obligation."""
    moved = [{**dict(zip(key_columns, key)), **d} for key, d in deltas.items() if any(d.values())]
    if not moved:
        return
    await conn.execute(insert_or_add(conn, table, list(key_columns), list(counts)), moved)
    # A key left with no obligation would show up as an empty group: remove it.
    emptied = [{f"k_{k}": r[k] for k in key_columns} for r in moved if any(r[c] < 0 for c in counts)]
    if emptied:
        await conn.execute(delete(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in key_columns),
                                               *(table.c[c] == 0 for c in counts)), emptied)


def _summary_select():  # noqa: ANN202 - a Select
    """monitor_obligations grouped into summary rows (the same statuses as ``contribution``)."""
    live = mo.c.cancelled_at.is_(None)
    answered = and_(live, mo.c.answered_at.is_not(None))
    unanswered = and_(live, mo.c.answered_at.is_(None))
    # exchange.domain.figures.clarified
    clarified = or_(mo.c.pause_count > 0, mo.c.paused.is_(True), mo.c.paused_working_days > 0)
    days = case((and_(answered, mo.c.response_working_days.is_not(None)), mo.c.response_working_days),
                else_=literal(NO_DAYS)).label("response_days")
    keys = [mo.c.due_day, mo.c.due_at, mo.c.receiver, mo.c.agreement_id, mo.c.agreement_version, mo.c.message_type]
    urgency = func.coalesce(mo.c.urgency, literal("")).label("urgency")
    counts = [
        func.count(case((mo.c.cancelled_at.is_not(None), 1))).label("cancelled"),
        func.count(case((and_(answered, mo.c.answered_at <= mo.c.due_at), 1))).label("on_time"),
        func.count(case((and_(answered, mo.c.answered_at > mo.c.due_at), 1))).label("late"),
        func.count(case((and_(unanswered, mo.c.paused.is_(False)), 1))).label("open"),
        func.count(case((and_(unanswered, mo.c.paused.is_(True)), 1))).label("paused"),
        func.count(case((and_(mo.c.cancelled_at.is_not(None), mo.c.cancel_reason == "withdrawn"), 1))
                   ).label("withdrawn"),
        func.count(case((and_(live, clarified), 1))).label("clarified"),
        func.coalesce(func.sum(case((and_(live, clarified), mo.c.paused_working_days), else_=literal(0))),
                      literal(0)).label("paused_working_days"),
    ]
    return select(*keys, days, urgency, *counts).group_by(*keys, days, urgency)


def _sender_select():  # noqa: ANN202 - a Select
    """monitor_obligations grouped into sender-side summary rows (as ``sender_contribution``)."""
    keys = [mo.c[k] for k in SENDER_KEY]
    return (select(*keys, func.count().label("due"), func.count(case((mo.c.sender_late.is_(True), 1))).label("late"))
            .where(mo.c.sender_due_day.is_not(None), mo.c.cancelled_at.is_(None)).group_by(*keys))


async def rebuild(conn: AsyncConnection) -> int:
    """Recompute both summaries from monitor_obligations (under ``lock``); returns the receiver side's rows."""
    await lock(conn)
    await conn.execute(delete(ms))
    await conn.execute(insert(ms).from_select([*KEY, *COUNTS], _summary_select()))
    await conn.execute(delete(mss))
    await conn.execute(insert(mss).from_select([*SENDER_KEY, "due", "late"], _sender_select()))
    return int(await conn.scalar(select(func.count()).select_from(ms)) or 0)


async def differences(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Summary rows (of either side) that differ from a recount of monitor_obligations (empty when exact)."""
    out = []
    for table, keys, recounting in ((ms, KEY, _summary_select()), (mss, SENDER_KEY, _sender_select())):
        n = len(keys)
        recount = {tuple(r[:n]): tuple(r[n:]) for r in await conn.execute(recounting)}
        stored = {tuple(r[:n]): tuple(r[n:]) for r in await conn.execute(select(*table.c))}
        zero = (0,) * (len(table.c) - n)
        out += [{"table": table.name, "key": k, "stored": stored.get(k, zero), "recount": recount.get(k, zero)}
                for k in sorted(recount.keys() | stored.keys(), key=repr)
                if stored.get(k, zero) != recount.get(k, zero)]
    return out
