"""The monitor queries as they were before the SQL rewrite (commit 32b16f7), kept verbatim as the
reference the rewrite must agree with (tests/integration/test_monitor_equivalence.py) and as the
"before" figure of the monitor benchmark. Not used by the node."""


from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import REQUEST_TYPES, region_name
from exchange.adapters.sql.tables import monitor_obligations as mo
from exchange.domain import CalendarBook, TimelinessRow, combine, timeliness
from exchange.domain.clock import as_utc
from exchange.domain.figures import headline, period_fields
from exchange.domain.obligation import local_day
from exchange.service.monitoring import COHORT

GroupBy = Literal["county", "prefecture", "province", "agreement", "type", "month"]
Side = Literal["receiver", "sender"]


def _region_group(code: str, level: str) -> str:
    return {"county": code, "prefecture": code[:4] + "00", "province": code[:2] + "0000"}[level]


def group_key(group_by: GroupBy, side: Side) -> Callable[[Any], str]:
    if group_by in ("county", "prefecture", "province"):
        return lambda r: _region_group(getattr(r, side), group_by)
    if group_by == "agreement":
        return lambda r: f"{r.agreement_id}@{r.agreement_version}"
    if group_by == "type":
        return lambda r: r.message_type
    return lambda r: (r.sender_due_day if side == "sender" else r.due_day).strftime("%Y-%m")


def _label(group_by: GroupBy, key: str) -> str | None:
    return region_name(key) if group_by in ("county", "prefecture", "province") else None


class ReferenceMonitorQueries:
    def __init__(self, engine: AsyncEngine, in_scope: Callable[[str], bool], calendars: CalendarBook):
        self.engine = engine
        self.in_scope = in_scope
        self.calendars = calendars

    async def _rows(self, where) -> list[Any]:  # noqa: ANN001 - an SQL clause
        async with self.engine.connect() as conn:
            return (await conn.execute(select(mo).where(where))).all()

    async def timeliness(self, *, start: date, end: date, group_by: GroupBy, side: Side,
                         now: datetime) -> dict[str, Any]:
        if side == "receiver":
            rows = [r for r in await self._rows(and_(mo.c.due_day >= start, mo.c.due_day < end,
                                                     mo.c.message_type.not_in(sorted(REQUEST_TYPES))))
                    if self.in_scope(r.receiver)]
            facts = [
                TimelinessRow(due_at=as_utc(r.due_at), answered_at=as_utc(r.answered_at),
                              cancelled_at=as_utc(r.cancelled_at), response_working_days=r.response_working_days,
                              cancel_reason=r.cancel_reason, paused_working_days=r.paused_working_days,
                              pause_count=r.pause_count,
                              paused=r.paused, receiver=r.receiver, sender=r.sender, message_type=r.message_type)
                for r in rows
            ]
            keys = {id(f): group_key(group_by, side)(r) for f, r in zip(facts, rows)}
            groups = timeliness(facts, now=now, start=start, end=end, key=lambda f: keys[id(f)])
            basis = headline(end, now)
            out = [{"group": k, "name": _label(group_by, k), **g.to_dict(basis)}
                   for k, g in sorted(groups.items())]
            total = combine(groups.values()).to_dict(basis)
        else:
            rows = [r for r in await self._rows(and_(mo.c.sender_due_day >= start, mo.c.sender_due_day < end))
                    if self.in_scope(r.sender) and r.cancelled_at is None]
            key = group_key(group_by, side)
            tallies: dict[str, dict[str, int]] = {}
            for r in rows:
                t = tallies.setdefault(key(r), {"due": 0, "sent_on_time": 0, "sent_late": 0})
                t["due"] += 1
                t["sent_late" if r.sender_late else "sent_on_time"] += 1
            out = [{"group": k, "name": _label(group_by, k), **_sender_rates(t)} for k, t in sorted(tallies.items())]
            total = _sender_rates({n: sum(t[n] for t in tallies.values()) for n in ("due", "sent_on_time", "sent_late")})
        return {
            "cohort": COHORT if side == "receiver" else
            "records whose sender-side deadline (24:00 of the due day after the event date) fell in [from, to)",
            "from": start.isoformat(), "to": end.isoformat(), "as_of": now.isoformat(),
            "side": side, "group_by": group_by, "groups": out, "total": total,
            **(period_fields(end, now) if side == "receiver" else {}),
        }

    async def overdue(self, *, now: datetime) -> dict[str, Any]:
        rows = await self._rows(and_(mo.c.answered_at.is_(None), mo.c.cancelled_at.is_(None),
                                     mo.c.paused.is_(False), mo.c.due_at < now))
        today = local_day(now)
        items = [
            {
                "message_id": r.message_id, "message_type": r.message_type, "sender": r.sender,
                "receiver": r.receiver, "due_at": as_utc(r.due_at).isoformat(), "due_day": r.due_day.isoformat(),
                "working_days_overdue": self.calendars.calendar_for(r.receiver).working_days_between(r.due_day, today),
            }
            for r in sorted(rows, key=lambda r: (r.due_day, r.message_id))
            if as_utc(r.due_at) < now and self.in_scope(r.receiver)
        ]
        return {"as_of": now.isoformat(), "count": len(items), "items": items}


def _sender_rates(t: dict[str, int]) -> dict[str, Any]:
    return {**t, "on_time_rate": t["sent_on_time"] / t["due"] if t["due"] else None}
