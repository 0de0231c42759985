"""Calendar overrides an admin adds (POST /v1/calendar/overrides): stored in one unit of work, then in the node's
calendars; on a real SQLite database, with the unit of work a node uses."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.tables import calendar_overrides
from exchange.adapters.unit_of_work import evidence_only
from exchange.domain import CalendarBook, DayKind
from exchange.domain.problems import Problem
from exchange.service.calendars import CalendarOverrides


@pytest.fixture
async def engine(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def stored(engine) -> list[tuple]:  # noqa: ANN001
    async with engine.connect() as conn:
        rows = await conn.execute(select(calendar_overrides).order_by(calendar_overrides.c.day))
        return [tuple(r) for r in rows]


async def test_a_range_is_stored_and_changes_the_calendar(engine):
    calendars = CalendarBook.default()
    before = calendars.calendar_for("621227").id
    service = CalendarOverrides(evidence_only(engine), calendars)

    added = await service.add("620000", date(2026, 11, 4), date(2026, 11, 6), DayKind.HOLIDAY, "测试")

    days = ["2026-11-04", "2026-11-05", "2026-11-06"]
    assert added == {"region": "620000", "days": days, "calendar_id": calendars.calendar_for("620000").id}
    assert calendars.calendar_for("621227").id != before
    assert not calendars.calendar_for("621227").is_working_day(date(2026, 11, 4))
    assert await stored(engine) == [("620000", date.fromisoformat(d), "holiday", "测试") for d in days]
    assert [o.to_dict()["date"] for o in calendars.overrides("62")] == days


async def test_a_day_added_again_takes_the_new_kind(engine):
    calendars = CalendarBook.default()
    service = CalendarOverrides(evidence_only(engine), calendars)
    await service.add("542526", date(2026, 11, 7), None, DayKind.HOLIDAY, "")

    added = await service.add("542526", date(2026, 11, 7), None, DayKind.WORKING, "调休")

    assert added["days"] == ["2026-11-07"]
    assert await stored(engine) == [("542526", date(2026, 11, 7), "working", "调休")]
    assert calendars.calendar_for("542526").is_working_day(date(2026, 11, 7))


async def test_an_unknown_region_is_refused_and_nothing_is_stored(engine):
    calendars = CalendarBook.default()
    shipped = calendars.overrides()
    with pytest.raises(Problem) as refused:
        await CalendarOverrides(evidence_only(engine), calendars).add("999999", date(2026, 11, 7), None,
                                                                      DayKind.HOLIDAY, "")
    assert refused.value.code == "unknown_region"
    assert await stored(engine) == []
    assert calendars.overrides() == shipped
