"""Calendar overrides admins add (extra holidays and working days of a region): kept in the node's database, in one
unit of work, and then in the calendar book every deadline is computed with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from contracts import is_region
from exchange.adapters.sql.dialect import upsert
from exchange.adapters.sql.tables import calendar_overrides
from exchange.domain import CalendarBook, DayKind
from exchange.domain.problems import Problem
from exchange.service.unit_of_work import UnitOfWorkFactory


class CalendarOverrides:
    """Adds overrides to the node's calendars (the rules: exchange/domain/calendar.py)."""

    def __init__(self, uow: UnitOfWorkFactory, calendars: CalendarBook, on_change: Callable[[], None] = lambda: None):
        self.uow = uow
        self.calendars = calendars
        self.on_change = on_change  # the node's other processes read the overrides again

    async def add(self, region: str, first: date, until: date | None, kind: DayKind, name: str) -> dict[str, Any]:
        """Every day from `first` to `until` (inclusive; `first` alone without it) becomes a `kind` day of `region`,
        stored (a day already overridden takes the new kind and name) before the calendars change."""
        if not is_region(region):
            raise Problem("unknown_region")
        days = [first + timedelta(days=i) for i in range(((until or first) - first).days + 1)]
        async with self.uow() as uow:
            for day in days:
                await uow.conn.execute(upsert(uow.conn, calendar_overrides, ["region", "day"],
                                              {"region": region, "day": day, "kind": kind.value, "name": name}))
        for day in days:
            self.calendars.add_override(region, day, kind, name)
        self.on_change()
        return {"region": region, "days": [d.isoformat() for d in days],
                "calendar_id": self.calendars.calendar_for(region).id}
