"""The monitor's answers are exactly those of the row-by-row reference, on SQLite and PostgreSQL, with the
summary kept by the feed through revisions of the same obligations.

Three thousand synthetic obligations with the boundary cases (answered exactly at 24:00, due exactly
now, answered without response days, paused past the deadline, cancelled) reach the monitor as its feed
receives them: every obligation opened first under another deadline, then paused, then in its final state,
the batches shuffled, replayed and out of order. Then every group_by, both sides, three periods, scopes
"all" / one province / two provinces, the scope known to SQL (Settings) and opaque (a plain callable), and
the overdue listing read page by page, against the reference (tests/benchmarks/reference_monitor_queries.py,
the implementation before the SQL rewrite). The summary must equal a recount of the stored obligations, and
the rebuild (`mpx monitor rebuild-summary`) must make the same one; so must the migration that adds the
summary to a monitor with obligations already stored. `make bench` runs this first, too.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from alembic import command
from sqlalchemy import func, insert, select

from exchange.adapters.crypto.canonical import monitoring_event_bytes
from exchange.adapters.crypto.signing import KeyRing, SigningKey
from exchange.adapters.kafka.monitor_feed import MonitorFeed
from exchange.adapters.sql import monitor_summary as summary
from exchange.adapters.sql.database import alembic_config, create_engine, migrate
from exchange.adapters.sql.tables import monitor_obligations, monitor_sender_summary, monitor_summary
from exchange.config import Settings
from exchange.domain import CalendarBook
from exchange.domain.obligation import end_of_day
from exchange.service.monitoring import MonitorQueries
from tests.benchmarks import synthetic
from tests.benchmarks.reference_monitor_queries import ReferenceMonitorQueries

NOW = synthetic.reference_now()
COUNTIES = tuple(c for c in synthetic.all_counties() if c[:2] in ("33", "62", "54", "11"))[:120]
PERIODS = [(date(2026, 11, 1), date(2026, 12, 1)), (date(2026, 1, 1), date(2027, 1, 1)),
           (date(2026, 11, 10), date(2026, 11, 11))]
GROUPS = ["county", "prefecture", "province", "agreement", "type", "month"]
URGENCIES = ("urgent", "expedited", "certificate_check")


def _event(row: dict[str, Any]) -> bytes:
    return orjson.dumps({str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()})


def revisions(final: dict[str, Any], rnd: random.Random) -> list[dict[str, Any]]:
    """The events of one obligation: opened under a deadline two days earlier, paused, then as it ended."""
    earlier = final["due_day"] - timedelta(days=2)
    opened = {**final, "due_day": earlier, "due_at": end_of_day(earlier), "answered_at": None,
              "response_working_days": None, "cancelled_at": None, "cancel_reason": None, "paused": False,
              "paused_working_days": 0, "pause_count": 0, "revision": 1}
    paused = {**opened, "due_day": final["due_day"], "due_at": final["due_at"], "paused": True, "pause_count": 1,
              "revision": 2}
    events = [opened, paused, {**final, "revision": 3}]
    return events if rnd.random() < 0.8 else events[:1] + events[2:]  # some never paused


#: Each receiving county's signing key: the monitor believes an event only if its receiver signed it.
KEYS = {county: SigningKey.generate(county, f"{county}-k1", datetime(2020, 1, 1, tzinfo=UTC)) for county in COUNTIES}


def ring() -> KeyRing:
    keys = KeyRing()
    for key in KEYS.values():
        keys.add_public(key.public_key())
    return keys


def _signed(offset: int, event: dict[str, Any]) -> ConsumerRecord:
    body = orjson.loads(_event({**event, "event": "opened" if event["revision"] == 1 else "answered"}))
    key = KEYS[event["receiver"]]
    headers = (("mpx-key-id", key.key_id.encode()), ("mpx-signature", key.sign(monitoring_event_bytes(body)).encode()))
    return ConsumerRecord("mpx.monitor", 0, offset, 0, 0, None, orjson.dumps(body), None, 0, 0, headers)


def deliveries(rows: list[dict[str, Any]], seed: int) -> list[list[ConsumerRecord]]:
    """Every revision of every row as consumer records, shuffled, a tenth delivered twice, in batches of 500."""
    rnd = random.Random(seed)
    events = [e for row in rows for e in revisions(row, rnd)]
    events += rnd.sample(events, len(events) // 10)
    rnd.shuffle(events)
    records = [_signed(offset, e) for offset, e in enumerate(events)]
    return [records[i:i + 500] for i in range(0, len(records), 500)]


async def _keys_are_current() -> bool:
    return True  # every county's key is in ring(): the feed never needs to read the keys topic


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    if request.param == "postgresql":
        url = await asyncio.to_thread(request.getfixturevalue("make_postgres_database"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    await migrate(url)
    engine = create_engine(url)
    rows = synthetic.as_dicts(synthetic.rows(3000, now=NOW, seed=7, counties=COUNTIES, days=400, edge_cases=True))
    # Every tenth a verification request (协查), counted per urgency and never in the records' timeliness.
    rows = [{**row, "message_type": "verification_request", "urgency": URGENCIES[n % 3], "sender_due_at": None,
             "sender_due_day": None, "sent_at": None, "sender_late": None} if n % 10 == 0 else row
            for n, row in enumerate(rows)]
    feed = MonitorFeed(None, "mpx.monitor", 1, engine, lambda county: True, ring(),  # type: ignore[arg-type]
                       refresh_keys=_keys_are_current)
    for batch in deliveries(rows, seed=7):
        await feed.apply(batch)
    yield engine
    await engine.dispose()


async def test_the_feed_keeps_the_summary_equal_to_a_recount_and_the_rebuild_makes_the_same(engine):  # noqa: ANN001
    async def both(conn) -> list[list[tuple]]:  # noqa: ANN001
        return [sorted(tuple(r) for r in await conn.execute(select(t)))
                for t in (monitor_summary, monitor_sender_summary)]

    async with engine.connect() as conn:
        assert await summary.differences(conn) == []
        kept = await both(conn)
        # of the cancelled, those withdrawn by their sender are counted apart
        withdrawn, cancelled = (await conn.execute(select(func.sum(monitor_summary.c.withdrawn),
                                                          func.sum(monitor_summary.c.cancelled)))).one()
        assert 0 < withdrawn < cancelled
        assert set(await conn.scalars(select(monitor_summary.c.urgency).distinct())) == {"", *URGENCIES}
        # of the others, those paused for clarification, and their working days paused
        clarified, paused_days = (await conn.execute(select(func.sum(monitor_summary.c.clarified),
                                                            func.sum(monitor_summary.c.paused_working_days)))).one()
        assert 0 < clarified < paused_days
    assert all(kept)
    async with engine.begin() as conn:
        assert await summary.rebuild(conn) == len(kept[0])
        assert await both(conn) == kept
        # what is stored (and summarised) is every obligation's last revision, whatever the order of delivery
        assert set(await conn.scalars(select(monitor_obligations.c.revision).distinct())) == {3}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_monitor_upgraded_with_obligations_stored_gets_its_summary(kind, request, tmp_path):  # noqa: ANN001
    if kind == "postgresql":
        url = await asyncio.to_thread(request.getfixturevalue("make_postgres_database"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0009_bench_indexes")  # before the summary
    engine = create_engine(url)
    try:
        # stored before 0017, 0018 and 0019: no cancel reason (they count as cancelled, none as withdrawn), no urgency
        # (records), no pause count (clarified: paused, or paused for some working days)
        rows = [{k: v for k, v in row.items() if k not in ("cancel_reason", "urgency", "pause_count")}
                for row in synthetic.as_dicts(synthetic.rows(600, now=NOW, seed=3, counties=COUNTIES, edge_cases=True))]
        async with engine.begin() as conn:
            await conn.execute(insert(monitor_obligations), rows)
        await migrate(url)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.sum(monitor_summary.c.cancelled + monitor_summary.c.on_time
                                                     + monitor_summary.c.late + monitor_summary.c.open
                                                     + monitor_summary.c.paused))) == 600
            assert await summary.differences(conn) == []
    finally:
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
    # as of a later time, from the same summary: more overdue, fewer open and not yet due
    later = NOW + timedelta(days=3)
    args = {"start": PERIODS[0][0], "end": PERIODS[0][1], "group_by": "county", "side": "receiver", "now": later}
    assert await fast.timeliness(**args) == await reference.timeliness(**args)

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
    assert (await fast.overdue(now=later, limit=10_000))["items"] == (await reference.overdue(now=later))["items"]


@pytest.mark.parametrize("scope", [("all",), ("33",)])
async def test_a_region_narrows_every_answer_to_its_counties_within_the_scope(engine, scope):  # noqa: ANN001
    """The drill-down (province → prefecture → county; the API's `region`): each answer is the reference's over the
    region's counties only, and a region outside the monitor's scope shows nothing."""
    settings = Settings(role="monitor", monitor_scope=scope)
    calendars = CalendarBook.default()
    queries = MonitorQueries(engine, settings.in_scope, calendars)
    prefecture = next(c[:4] for c in COUNTIES if c[:2] == "33")
    county = next(c for c in COUNTIES if c.startswith(prefecture))
    for area in ("33", prefecture, county):
        reference = ReferenceMonitorQueries(engine, lambda c, a=area: settings.in_scope(c) and c.startswith(a),
                                            calendars)
        for side in ("receiver", "sender"):
            for group_by in ("county", "prefecture", "month"):
                args = {"start": PERIODS[1][0], "end": PERIODS[1][1], "group_by": group_by, "side": side, "now": NOW}
                expected = await reference.timeliness(**args)
                assert expected["groups"], (area, side, group_by)
                assert await queries.within(area).timeliness(**args) == expected, (area, side, group_by)
        assert (await queries.within(area).overdue(now=NOW, limit=10_000))["items"] == (
            await reference.overdue(now=NOW))["items"]
    outside = MonitorQueries(engine, Settings(role="monitor", monitor_scope=("62",)).in_scope, calendars)
    assert (await outside.within(prefecture).timeliness(**args))["groups"] == []
    assert (await outside.within(prefecture).overdue(now=NOW))["count"] == 0
