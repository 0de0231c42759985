"""The SQL monitor queries give exactly the answers of the row-by-row reference, on SQLite and PostgreSQL.

Run explicitly (tests/benchmarks is never collected by `make test`; `make bench` runs this first):

    .venv/bin/python -m pytest tests/benchmarks/test_monitor_equivalence.py -q

Several thousand synthetic obligations with the boundary cases (answered exactly at 24:00, due exactly
now, answered without response days, paused past the deadline, cancelled) against every group_by, both
sides, three periods, scopes "all" / one province / two provinces, the scope known to SQL (Settings) and
opaque (a plain callable), and the overdue listing read page by page.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from exchange.config import Settings
from exchange.monitor.queries import MonitorQueries
from exchange.sla import CalendarBook
from exchange.storage.database import create_engine, migrate
from exchange.storage.tables import monitor_obligations

from tests.benchmarks import synthetic
from tests.benchmarks.reference_monitor_queries import ReferenceMonitorQueries

NOW = synthetic.reference_now()
COUNTIES = tuple(c for c in synthetic.all_counties() if c[:2] in ("33", "62", "54", "11")) [:120]
PERIODS = [(date(2026, 11, 1), date(2026, 12, 1)), (date(2026, 1, 1), date(2027, 1, 1)),
           (date(2026, 11, 10), date(2026, 11, 11))]
GROUPS = ["county", "prefecture", "province", "agreement", "type", "month"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    if request.param == "postgresql":
        url = await asyncio.to_thread(request.getfixturevalue("make_postgres_database"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    await migrate(url)
    engine = create_engine(url)
    data = synthetic.as_dicts(synthetic.rows(4000, now=NOW, seed=7, counties=COUNTIES, days=400, edge_cases=True))
    async with engine.begin() as conn:
        await conn.execute(insert(monitor_obligations), data)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("scope", [("all",), ("33",), ("33", "620000")])
async def test_sql_answers_equal_the_reference(engine, scope):  # noqa: ANN001
    settings = Settings(role="monitor", monitor_scope=scope)
    calendars = CalendarBook.default()
    reference = ReferenceMonitorQueries(engine, settings.in_scope, calendars)
    fast = MonitorQueries(engine, settings.in_scope, calendars)
    opaque = MonitorQueries(engine, lambda county: settings.in_scope(county), calendars)
    assert fast.scope_in_sql and not opaque.scope_in_sql
    checked = 0
    for start, end in PERIODS:
        for side in ("receiver", "sender"):
            for group_by in GROUPS:
                args = {"start": start, "end": end, "group_by": group_by, "side": side, "now": NOW}
                expected = await reference.timeliness(**args)
                assert await fast.timeliness(**args) == expected, (start, side, group_by)
                assert await opaque.timeliness(**args) == expected, (start, side, group_by)
                checked += bool(expected["groups"])
    assert checked > 20  # the periods are not empty

    expected = await reference.overdue(now=NOW)
    assert expected["count"] > 20
    for queries in (fast, opaque):
        items, cursor = [], None
        while True:
            page = await queries.overdue(now=NOW, limit=7, cursor=cursor)
            assert page["count"] == expected["count"] and len(page["items"]) <= 7
            items += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert items == expected["items"]
        whole = await queries.overdue(now=NOW, limit=10_000)
        assert whole["items"] == expected["items"] and not whole["has_more"]
    # as of a later time more are overdue, none fewer
    later = NOW + timedelta(days=3)
    assert (await fast.overdue(now=later, limit=10_000))["items"] == (await reference.overdue(now=later))["items"]
