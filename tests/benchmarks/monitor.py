"""Figure 3 (monitor): p50/p95 of GET /v1/monitor/timeliness and /v1/monitor/overdue over HTTP, with 1 million
(BENCH_SCALE=small) or 10 million (full) obligations bulk-loaded (COPY) into monitor_obligations on PostgreSQL,
then summarised into monitor_summary by the rebuild the operators' command runs (the receiver-side answers
read the summary; a live monitor's feed keeps it).

Baseline: a full-table `SELECT count(*)` on the same table in the same run (what one pass over the data
costs on this machine), and GET /healthz on the same monitor (the HTTP floor). `before` runs the
row-by-row reference implementation (tests/benchmarks/reference_monitor_queries.py) in-process once per
query, beside the new one in-process, where that is affordable (not at 10 million).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from exchange.adapters.sql import monitor_summary as summary
from exchange.adapters.sql.database import create_engine, migrate
from exchange.config import Settings
from exchange.domain import CalendarBook
from exchange.service.monitoring import MonitorQueries
from tests.benchmarks import synthetic
from tests.benchmarks.common import NodeProcess, client, percentile
from tests.benchmarks.reference_monitor_queries import ReferenceMonitorQueries
from tests.infra import _asyncpg_kwargs

#: Rows generated in Python; more are made in SQL as copies of these under new message ids.
SEED_ROWS = 1_000_000


def _months(now: datetime) -> tuple[date, date, date]:
    """The first day of last month, of this month, of this year."""
    this_month = now.date().replace(day=1)
    return (this_month - timedelta(days=1)).replace(day=1), this_month, date(now.year, 1, 1)


def queries(now: datetime) -> dict[str, tuple[str, dict[str, str]]]:
    last_month, this_month, new_year = _months(now)
    month = {"from": last_month.isoformat(), "to": this_month.isoformat()}
    year = {"from": date(now.year - 1, now.month, 1).isoformat(), "to": this_month.isoformat()}
    return {
        "timeliness_month_by_county": ("/v1/monitor/timeliness", {**month, "group_by": "county"}),
        "timeliness_month_by_province": ("/v1/monitor/timeliness", {**month, "group_by": "province"}),
        "timeliness_year_by_month": ("/v1/monitor/timeliness", {**year, "group_by": "month"}),
        "timeliness_year_by_type": ("/v1/monitor/timeliness", {**year, "group_by": "type"}),
        "timeliness_month_sender_by_province": ("/v1/monitor/timeliness",
                                                {**month, "group_by": "province", "side": "sender"}),
        "overdue_first_page": ("/v1/monitor/overdue", {}),
        "overdue_first_page_csv": ("/v1/monitor/overdue", {"format": "csv"}),
    }


async def load(url: str, rows: int, now: datetime) -> dict[str, Any]:
    """Migrate a fresh database and COPY `rows` synthetic obligations into monitor_obligations."""
    await migrate(url)
    conn = await asyncpg.connect(**_asyncpg_kwargs(url))
    try:
        t0 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'")
        # Bulk load without the indexes, then build them (as a restore would); same definitions as the migrations.
        indexes = [r["indexdef"] for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'monitor_obligations' "
            "AND indexname NOT LIKE 'pk_%'")]
        for definition in indexes:
            await conn.execute(f"DROP INDEX {definition.split(' INDEX ', 1)[1].split(' ON ', 1)[0]}")
        seed = min(rows, SEED_ROWS)
        copies = -(-rows // seed)
        target = "monitor_obligations" if copies == 1 else "mo_seed"
        if copies > 1:
            await conn.execute("CREATE UNLOGGED TABLE mo_seed (LIKE monitor_obligations)")
        chunk, generated = 200_000, synthetic.rows(seed, now=now, seed=11)
        while True:
            block = [r for _, r in zip(range(chunk), generated)]
            if not block:
                break
            await conn.copy_records_to_table(target, records=block, columns=synthetic.COLUMNS)
        if copies > 1:
            # Each seed row `copies` times under new ids, in arrival order (as a monitor stores them).
            columns = ", ".join(synthetic.COLUMNS[1:])
            await conn.execute(
                f"INSERT INTO monitor_obligations (message_id, {columns}) "
                f"SELECT message_id || '-' || k, {columns} FROM mo_seed, generate_series(1, {copies}) AS k "
                f"ORDER BY received_at, k")
            await conn.execute("DROP TABLE mo_seed")
            rows = seed * copies
        for definition in indexes:
            await conn.execute(definition)
        loaded = time.perf_counter() - t0
        t1 = time.perf_counter()
        summary_rows = await _rebuild_summary(url)
        summarised = time.perf_counter() - t1
        t1 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE monitor_obligations")
        await conn.execute("VACUUM ANALYZE monitor_summary")
        await conn.execute("VACUUM ANALYZE monitor_sender_summary")
        vacuum = time.perf_counter() - t1
        size = await conn.fetchval("SELECT pg_total_relation_size('monitor_obligations')")
        summary_size = await conn.fetchval("SELECT pg_total_relation_size('monitor_summary')")
        overdue = await conn.fetchval(
            "SELECT count(*) FROM monitor_obligations WHERE answered_at IS NULL AND cancelled_at IS NULL "
            "AND NOT paused AND due_at < $1", now)
        scans = []
        for _ in range(5):
            t = time.perf_counter()
            await conn.fetchval("SELECT count(*) FROM monitor_obligations")
            scans.append(time.perf_counter() - t)
    finally:
        await conn.close()
    return {"rows": rows, "load_seconds": round(loaded, 1), "vacuum_analyze_seconds": round(vacuum, 1),
            "table_mib": round(size / 2**20), "overdue_rows": overdue,
            "summary_rows": summary_rows, "summary_seconds": round(summarised, 1),
            "summary_mib": round(summary_size / 2**20),
            "baseline_full_count_ms": round(percentile(scans, 50) * 1000, 1)}


async def _rebuild_summary(url: str) -> int:
    """Fill monitor_summary from the loaded rows, as `mpx monitor rebuild-summary` does (the feed keeps it after)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await summary.rebuild(conn)
    finally:
        await engine.dispose()


async def measure_http(base_url: str, path: str, params: dict[str, str], reps: int, warmup: int = 2) -> dict[str, Any]:
    times, size = [], 0
    async with client(base_url, timeout=600) as http:
        for i in range(warmup + reps):
            t0 = time.perf_counter()
            response = await http.get(path, params=params)
            elapsed = time.perf_counter() - t0
            response.raise_for_status()
            size = len(response.content)
            if i >= warmup:
                times.append(elapsed)
    return {"p50_ms": round(percentile(times, 50) * 1000, 1), "p95_ms": round(percentile(times, 95) * 1000, 1),
            "reps": reps, "response_bytes": size}


async def before_after(url: str, now: datetime) -> dict[str, Any]:
    """The old row-by-row queries against the new ones, in-process, one run each (seconds)."""
    settings = Settings(role="monitor", monitor_scope=("all",))
    engine = create_engine(url)
    calendars = CalendarBook.default()
    old, new = ReferenceMonitorQueries(engine, settings.in_scope, calendars), MonitorQueries(
        engine, settings.in_scope, calendars)
    last_month, this_month, _ = _months(now)
    out = {}
    try:
        for name, call in {
            "timeliness_month_by_county": lambda q: q.timeliness(start=last_month, end=this_month,
                                                                 group_by="county", side="receiver", now=now),
            "overdue_all": lambda q: q.overdue(now=now) if q is old else q.overdue(now=now, limit=10_000),
        }.items():
            await call(new)  # warm caches for both
            t0 = time.perf_counter()
            a = await call(new)
            t_new = time.perf_counter() - t0
            t0 = time.perf_counter()
            b = await call(old)
            t_old = time.perf_counter() - t0
            same = (a == b) if name.startswith("timeliness") else (a["count"] == b["count"] and
                                                                   a["items"] == b["items"][:10_000])
            out[name] = {"before_ms": round(t_old * 1000, 1), "after_ms": round(t_new * 1000, 1),
                         "speedup": round(t_old / t_new, 1), "same_answer": same}
    finally:
        await engine.dispose()
    return out


async def monitor_bench(postgres_url: str, bootstrap: str, make_db, *, rows: int, reps: int,  # noqa: ANN001
                        before: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    url = make_db("bench_monitor")
    loaded = await load(url, rows, now)
    print(f"    loaded {rows:,} obligations in {loaded['load_seconds']} s ({loaded['table_mib']} MiB); "
          f"summary {loaded['summary_rows']:,} rows in {loaded['summary_seconds']} s ({loaded['summary_mib']} MiB)",
          flush=True)
    node = NodeProcess("monitor", [], url, bootstrap, f"benchmon{uuid.uuid4().hex[:8]}",
                       extra_env={"MPX_ROLE": "monitor", "MPX_MONITOR_SCOPE": "all", "MPX_COUNTIES": "621227"})
    node.start()
    result: dict[str, Any] = {**loaded, "queries": {}}
    try:
        result["ready_seconds"] = round(await node.wait_ready(), 2)
        result["baseline_healthz"] = await measure_http(node.url, "/healthz", {}, 50, 5)
        for name, (path, params) in queries(now).items():
            result["queries"][name] = {"path": path, "params": params,
                                       **await measure_http(node.url, path, params, reps)}
            print(f"    {name}: p50 {result['queries'][name]['p50_ms']} ms, "
                  f"p95 {result['queries'][name]['p95_ms']} ms", flush=True)
    finally:
        node.stop()
    if before:
        result["before_after"] = await before_after(url, now)
    return result


_ = asyncio
