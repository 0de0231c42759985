"""`make bench`: every benchmark against a local Apache Kafka and PostgreSQL, results in var/bench/.

    .venv/bin/python -m tests.benchmarks.run [--only ingest,e2e,sustained,group,monitor,breadth] [--no-profile]
                                              [--no-check]

BENCH_SCALE=small (default; about 8 minutes on 2 cores) or full (the issue's sizes: 10 million
obligations, 100,000-message ingest runs, 60-second end-to-end runs, SQLite end to end too; about 30-40
minutes, most of it generating and loading the obligations). KAFKA_BOOTSTRAP_SERVERS and
BENCH_DATABASE_URL use running servers instead of starting throwaway ones.

Writes var/bench/results.json (everything) and var/bench/results.md (the table), plus the ingest profile
(var/bench/profile-ingest-postgresql.txt, py-spy collapsed stacks). Nothing here asserts a timing: the
figures are for reading, each machine-speed-dependent one also as a ratio to a baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tests import infra
from tests.benchmarks import breadth, e2e, group, ingest, monitor
from tests.benchmarks.common import (
    FULL,
    PYTHON,
    REPO,
    SCALE,
    VAR,
    cpu_baseline,
    machine,
    ratio,
    sqlite_url,
    versions,
)
from tests.benchmarks.report import markdown

SIZES = {
    "small": {"ingest_messages": 20_000, "e2e_seconds": 15, "e2e_kinds": ("postgresql",),
              "sustained_seconds": 120, "group_messages": 20_000,
              "monitor_rows": 1_000_000, "monitor_reps": 20, "breadth_messages": 5_000,
              "breadth_counties": (1, 100, 2849), "raw_messages": 20_000},
    "full": {"ingest_messages": 100_000, "e2e_seconds": 60, "e2e_kinds": ("postgresql", "sqlite"),
             "sustained_seconds": 600, "group_messages": 100_000,
             "monitor_rows": 10_000_000, "monitor_reps": 30, "breadth_messages": 20_000,
             "breadth_counties": (1, 100, 2849), "raw_messages": 100_000},
}
E2E_RATES = (1000, 500, 250, 100)
E2E_BATCH = 50  # messages per POST: 20 requests/s at 1,000 messages/s


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _pg_settings() -> list[str]:
    """BENCH_PG_SETTINGS=name=value,…: settings a reload applies (e.g. max_wal_size=8GB,checkpoint_timeout=30min),
    to see what a server configured for the write load changes."""
    pairs = [p.split("=", 1) for p in os.environ.get("BENCH_PG_SETTINGS", "").split(",") if "=" in p]
    return [f"ALTER SYSTEM SET {name.strip()} = '{value.strip()}'" for name, value in pairs]


class Infra:
    def __init__(self) -> None:
        self.kafka: infra.KafkaServer | None = None
        self.postgres: infra.PostgresServer | None = None

    def start(self) -> None:
        work = VAR / "infra"
        shutil.rmtree(work, ignore_errors=True)  # a previous run's data directories
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            self.kafka = infra.external_kafka(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        else:
            self.kafka = infra.start_kafka(work / "kafka")
        if os.environ.get("BENCH_DATABASE_URL"):
            self.postgres = infra.external_postgres(os.environ["BENCH_DATABASE_URL"])
        else:
            self.postgres = infra.start_postgres(work / "postgres")
            # The throwaway test server runs without fsync; a benchmark of durable acceptance needs it on.
            infra.run_async(lambda: _sql(self.postgres.url, [
                "ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
                "ALTER SYSTEM SET full_page_writes = on", *_pg_settings(), "SELECT pg_reload_conf()"]), 30)

    def database(self, prefix: str) -> str:
        assert self.postgres is not None
        url = infra.fresh_postgres_database(self.postgres.url, prefix)
        self.postgres.created.append(url)
        return url

    def stop(self) -> None:
        if self.postgres is not None:
            if self.postgres.workdir is None:
                for url in self.postgres.created:
                    try:
                        infra.drop_postgres_database(url, maintenance_url=self.postgres.url)
                    except Exception:  # noqa: BLE001 - best effort
                        pass
            self.postgres.stop()
        if self.kafka is not None:
            self.kafka.stop()


async def _sql(url: str, statements: list[str]) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(**infra._asyncpg_kwargs(url))
    try:
        return [await conn.fetchval(s) for s in statements]
    finally:
        await conn.close()


def kafka_version() -> str | None:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mpx"
    found = sorted(p.name.removeprefix("kafka-") for p in cache.glob("kafka-*") if (p / ".complete").exists())
    return os.environ.get("KAFKA_VERSION") or (found[-1] if found else None)


async def run_ingest(env: Infra, sizes: dict[str, Any], profile: bool) -> dict[str, Any]:
    bootstrap = env.kafka.bootstrap
    out: dict[str, Any] = {}
    log("ingest: raw aiokafka producer (baseline)")
    records = ingest.records_for(sizes["raw_messages"] + 500)
    out["raw_producer"] = await ingest.raw_producer_rate(bootstrap, records)
    log(f"  raw producer {out['raw_producer']['per_s']:,.0f} records/s")
    for kind in ("postgresql", "sqlite"):
        url = env.database("bench_ingest") if kind == "postgresql" else sqlite_url("ingest")
        log(f"ingest: node on {kind}, {sizes['ingest_messages']:,} messages in batches of 500")
        out[kind] = await ingest.node_ingest(kind, url, bootstrap, messages=sizes["ingest_messages"])
        log(f"  accepted {out[kind]['accepted_per_s']:,.0f}/s, published {out[kind]['published_per_s']:,.0f}/s, "
            f"RSS idle {out[kind]['rss_idle_mib']} MiB, under load {out[kind]['rss_under_load_mib']} MiB")
    # Replicas of one county on one database share the work (relay leases, partition locks): how much it gains.
    log(f"ingest: two node processes of one county on one postgresql database, {sizes['ingest_messages']:,} messages")
    out["postgresql_two_processes"] = two = await ingest.node_ingest(
        "postgresql", env.database("bench_ingest_two"), bootstrap, messages=sizes["ingest_messages"], processes=2,
        name="ingest-postgresql-two")
    log(f"  accepted {two['accepted_per_s']:,.0f}/s, published {two['published_per_s']:,.0f}/s "
        f"({ratio(two['accepted_per_s'], out['postgresql']['accepted_per_s'])} × one process)")
    # One node split by role: an HTTP worker and a background process (relay, consumer) on a core each.
    log(f"ingest: one node split into an HTTP worker and a background process, {sizes['ingest_messages']:,} messages")
    out["postgresql_split"] = split = await ingest.node_ingest(
        "postgresql", env.database("bench_ingest_split"), bootstrap, messages=sizes["ingest_messages"],
        http_workers=1, name="ingest-postgresql-split")
    log(f"  accepted {split['accepted_per_s']:,.0f}/s, published {split['published_per_s']:,.0f}/s "
        f"({ratio(split['published_per_s'], out['postgresql']['published_per_s'])} × one process published)")
    if profile:
        path = VAR / "profile-ingest-postgresql.txt"
        path.unlink(missing_ok=True)
        log("ingest: profiling the node on postgresql with py-spy (a separate run, not counted)")
        prof = await ingest.node_ingest("postgresql", env.database("bench_profile"), bootstrap,
                                        messages=min(sizes["ingest_messages"], 20_000), profile=path,
                                        name="profile-postgresql")
        out["profile"] = {"file": prof.get("profile"), "accepted_per_s_while_profiled": prof["accepted_per_s"]}
        if path.exists():
            out["profile"].update(summarize_profile(path))
    return out


async def run_e2e(env: Infra, sizes: dict[str, Any], profile: bool) -> dict[str, Any]:
    bootstrap = env.kafka.bootstrap
    out: dict[str, Any] = {"batch": E2E_BATCH}
    log(f"end to end: bare Kafka producer -> consumer at {E2E_RATES[0]}/s (baseline)")
    out["kafka_baseline"] = await e2e.kafka_baseline(bootstrap, E2E_RATES[0], min(sizes["e2e_seconds"], 15),
                                                     E2E_BATCH)
    for kind in sizes["e2e_kinds"]:
        attempts = []
        for rate in E2E_RATES:
            urls = (env.database("bench_e2e_s"), env.database("bench_e2e_r")) if kind == "postgresql" else \
                (sqlite_url(f"e2e-sender-{rate}"), sqlite_url(f"e2e-receiver-{rate}"))
            log(f"end to end: two nodes on {kind}, {rate} messages/s offered for {sizes['e2e_seconds']} s")
            result = await e2e.nodes_e2e(kind, urls, bootstrap, rate=rate, seconds=sizes["e2e_seconds"],
                                         batch=E2E_BATCH, profile=profile and rate == E2E_RATES[0])
            for file in result.get("profiles", []):
                result.setdefault("profile_summaries", {})[file] = summarize_profile(REPO / file, top=15)
            log(f"  achieved {result['rate_achieved']}/s, stored p50 {result['stored']['p50_ms']} ms, "
                f"p99 {result['stored']['p99_ms']} ms, kept up: {result['kept_up']}")
            attempts.append(result)
            if result["kept_up"]:
                break
        out[kind] = {"attempts": attempts, "sustained": next((a for a in attempts if a["kept_up"]), None)}
        if kind == "postgresql":  # the same at the first rate with both nodes split by role
            rate = E2E_RATES[0]
            log(f"end to end: two nodes on {kind}, each an HTTP worker and a background process, {rate}/s")
            split = await e2e.nodes_e2e(kind, (env.database("bench_e2e_split_s"), env.database("bench_e2e_split_r")),
                                        bootstrap, rate=rate, seconds=sizes["e2e_seconds"], batch=E2E_BATCH,
                                        http_workers=1)
            log(f"  achieved {split['rate_achieved']}/s, stored p50 {split['stored']['p50_ms']} ms, "
                f"p99 {split['stored']['p99_ms']} ms, kept up: {split['kept_up']}")
            out["postgresql_split"] = {"attempts": [split], "sustained": split if split["kept_up"] else None}
        if out[kind]["sustained"] and out[kind]["sustained"]["rate_offered"] != out["kafka_baseline"]["rate"]:
            rate = out[kind]["sustained"]["rate_offered"]
            log(f"end to end: bare Kafka baseline again at {rate}/s")
            out[f"kafka_baseline_{rate}"] = await e2e.kafka_baseline(bootstrap, rate, min(sizes["e2e_seconds"], 15),
                                                                     E2E_BATCH)
    return out


async def run_sustained(env: Infra, sizes: dict[str, Any]) -> dict[str, Any]:
    """1,000 messages/s (BENCH_SUSTAINED_RATE) offered for minutes (10 at full scale) to two nodes, each split into
    an HTTP worker and a background process (BENCH_SUSTAINED_HTTP_WORKERS=0: one process each): do latency, the
    outbox and the receiver keep up?"""
    rate, seconds = int(os.environ.get("BENCH_SUSTAINED_RATE", E2E_RATES[0])), sizes["sustained_seconds"]
    workers = int(os.environ.get("BENCH_SUSTAINED_HTTP_WORKERS", 1))
    log(f"sustained: bare Kafka producer -> consumer at {rate}/s (baseline)")
    baseline = await e2e.kafka_baseline(env.kafka.bootstrap, rate, 15, E2E_BATCH)
    shape = f"{workers} HTTP worker(s) and a background process" if workers else "one process"
    log(f"sustained: two nodes on postgresql, {shape} each, {rate} messages/s for {seconds} s")
    result = await e2e.nodes_e2e("postgresql", (env.database("bench_sus_s"), env.database("bench_sus_r")),
                                 env.kafka.bootstrap, rate=rate, seconds=seconds, batch=E2E_BATCH, window=30,
                                 http_workers=workers)
    result["kafka_baseline"] = baseline
    for w in result["windows"]:
        log(f"  {w['window'] * 30:>4}-{(w['window'] + 1) * 30} s: p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms, "
            f"missing {w['missing']}, outbox ≤ {w['outbox_depth_max']}")
    return result


async def run_monitor(env: Infra, sizes: dict[str, Any]) -> dict[str, Any]:
    log(f"monitor: {sizes['monitor_rows']:,} obligations on postgresql")
    return await monitor.monitor_bench(env.postgres.url, env.kafka.bootstrap, env.database,
                                       rows=sizes["monitor_rows"], reps=sizes["monitor_reps"],
                                       before=sizes["monitor_rows"] <= 2_000_000)


async def run_breadth(env: Infra, sizes: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for n in sizes["breadth_counties"]:
        log(f"breadth: one node serving {n} counties")
        out[str(n)] = await breadth.breadth(n, env.database(f"bench_breadth_{n}"), env.kafka.bootstrap,
                                            messages=sizes["breadth_messages"])
        r = out[str(n)]
        log(f"  start {r['start_seconds_first']} s (restart {r['start_seconds_restart']} s), "
            f"RSS idle {r['rss_idle_mib']} MiB, load {r['rss_under_load_mib']} MiB, {r['accepted_per_s']:,.0f}/s")
    return out


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own, inclusive, total = Counter(), Counter(), 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        frames = frames[1:] if frames and frames[0].startswith("process ") else frames
        if not frames:
            continue
        own[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += n
    share = lambda c: [(f, round(100 * n / total, 1)) for f, n in c.most_common(top)]  # noqa: E731
    ours = Counter({f: n for f, n in inclusive.items() if any(p in f for p in ("exchange/", "contracts/"))})
    return {"samples": total, "self_top": share(own), "inclusive_top": share(inclusive), "ours_inclusive_top": share(ours)}


def _short(frame: str) -> str:
    """'fn (/path/site-packages/pkg/mod.py:12)' -> 'fn (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(REPO) + "/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


def check_monitor_equivalence(env: Infra) -> dict[str, Any]:
    log("check: SQL monitor queries == row-by-row reference (SQLite and PostgreSQL)")
    t0 = time.monotonic()
    proc = subprocess.run([PYTHON, "-m", "pytest", "tests/integration/test_monitor_equivalence.py", "-q", "-p",
                           "no:cacheprovider"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap,
                               "TEST_DATABASE_URL": env.postgres.url})
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    log(f"  {last}")
    return {"passed": proc.returncode == 0, "summary": last, "seconds": round(time.monotonic() - t0, 1)}


async def main(only: set[str], profile: bool, check: bool) -> dict[str, Any]:
    sizes = SIZES[SCALE]
    VAR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    env = Infra()
    results: dict[str, Any] = {"scale": SCALE, "sizes": sizes, "started": started.isoformat()}
    try:
        log(f"BENCH_SCALE={SCALE}: starting Apache Kafka and PostgreSQL")
        await asyncio.to_thread(env.start)
        pg_version = (await _sql(env.postgres.url, ["SHOW server_version"]))[0]
        pg_settings = dict(zip(("fsync", "synchronous_commit", "shared_buffers", "jit"), await _sql(
            env.postgres.url, ["SHOW fsync", "SHOW synchronous_commit", "SHOW shared_buffers", "SHOW jit"])))
        pg_settings["changed"] = os.environ.get("BENCH_PG_SETTINGS", "")
        results["machine"] = machine()
        results["load_average_at_start"] = os.getloadavg()
        results["versions"] = versions(kafka_version(), pg_version)
        results["postgresql_settings"] = pg_settings
        results["cpu_baseline_json_roundtrips_per_s"] = round(cpu_baseline())
        if check and "monitor" in only:
            results["check_monitor_equivalence"] = await asyncio.to_thread(check_monitor_equivalence, env)
        if "ingest" in only:
            results["ingest"] = await run_ingest(env, sizes, profile)
        if "e2e" in only:
            results["e2e"] = await run_e2e(env, sizes, profile)
        if "sustained" in only:
            results["sustained"] = await run_sustained(env, sizes)
        if "group" in only:
            log(f"provincial group: {sizes['group_messages']:,} records to 8 counties, consumed by 1 then 2 processes")
            results["group"] = g = await group.group_consume(env.postgres.url, env.database, env.kafka.bootstrap,
                                                             messages_total=sizes["group_messages"])
            log(f"  one process {g['processes_1']['per_s']}/s, two {g['processes_2']['per_s']}/s "
                f"({ratio(g['processes_2']['per_s'], g['processes_1']['per_s'])} ×)")
        if "monitor" in only:
            results["monitor"] = await run_monitor(env, sizes)
        if "breadth" in only:
            results["breadth"] = await run_breadth(env, sizes)
    finally:
        results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
        results["load_average_at_end"] = os.getloadavg()
        results["cpu_baseline_at_end_json_roundtrips_per_s"] = round(cpu_baseline())
        await asyncio.to_thread(env.stop)
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="ingest,e2e,sustained,group,monitor,breadth")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    results = asyncio.run(main(only, profile=not args.no_profile and os.environ.get("BENCH_PROFILE", "1") != "0",
                               check=not args.no_check))
    (VAR / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (VAR / "results.md").write_text(markdown(results))
    log(f"done in {results['seconds']} s: {VAR / 'results.md'}, {VAR / 'results.json'}")
    print((VAR / "results.md").read_text())


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    cli()

_ = (FULL, ratio)
