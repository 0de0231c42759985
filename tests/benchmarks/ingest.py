"""Figure 1 (ingest) and 5 (memory): messages per second a node accepts durably through POST /v1/messages/batch,
beside the raw aiokafka producer's rate for the same records on the same broker.

The node runs as production runs it (uvicorn process, its relay publishing to Kafka at the same time); the
load comes over real HTTP from this process with httpx, `concurrency` batches in flight. "Accepted" is
the rate of 202s (each one committed to the database); "published" also waits until the relay has put
every record on Kafka and marked it published.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from exchange.adapters.kafka.admin import TopicProvisioner
from exchange.adapters.sql.database import create_engine
from exchange.adapters.sql.tables import outbox
from tests.benchmarks.common import (
    VAR,
    NodeProcess,
    RssSampler,
    batch_bodies,
    client,
    cpu_seconds,
    kafka_records,
    percentile,
    post_batch,
    producer_settings,
    rss_mib,
    sqlite_url,
    start_py_spy,
    stop_py_spy,
)

RECEIVERS = ["330203", "542526", "110101", "440106", "510104", "621227"][:-1]
SENDER = "621227"


async def raw_producer_rate(bootstrap: str, records: list[tuple], warmup: int = 500) -> dict[str, Any]:
    """Records per second of a bare AIOKafkaProducer (the node's settings), sending like the relay does."""
    prefix = f"rawbase{uuid.uuid4().hex[:8]}"
    renamed = [(prefix + t[t.index(".records."):], p, k, v, h) for t, p, k, v, h in records]
    await TopicProvisioner({"bootstrap_servers": bootstrap}, 8, 1).ensure({r[0] for r in renamed})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **producer_settings())
    await producer.start()
    try:
        async def send(batch: list[tuple]) -> None:
            futures = [await producer.send(t, value=v, key=k, partition=p, headers=h) for t, p, k, v, h in batch]
            await asyncio.gather(*futures)

        await send(renamed[:warmup])
        measured = renamed[warmup:]
        t0 = time.perf_counter()
        for start in range(0, len(measured), 500):  # as the relay: rounds of MPX_RELAY_BATCH records
            await send(measured[start:start + 500])
        elapsed = time.perf_counter() - t0
    finally:
        await producer.stop()
    size = sum(len(v) + sum(len(k) + len(x) for k, x in h) for _, _, _, v, h in measured) / len(measured)
    return {"records": len(measured), "seconds": round(elapsed, 3), "per_s": round(len(measured) / elapsed, 1),
            "record_bytes_mean": round(size)}


async def unpublished(engine) -> int:  # noqa: ANN001
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))


async def post_all(base_urls: list[str], bodies: list[bytes], concurrency: int) -> tuple[list[float], int]:
    """POST every body (batch endpoint) with `concurrency` in flight, the workers spread over the nodes' URLs;
    request latencies (s) and failures."""
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(bodies))
    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(client(url)) for url in base_urls]

        async def worker(http: httpx.AsyncClient) -> None:
            nonlocal failures
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                response = await post_batch(http, body)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 202:
                    failures += 1
                    if failures == 1:
                        print(f"    ! {response.status_code}: {response.text[:300]}", flush=True)

        await asyncio.gather(*(worker(https[i % len(https)]) for i in range(concurrency)))
    return latencies, failures


async def node_ingest(kind: str, database_url: str, bootstrap: str, *, messages: int, batch: int = 500,
                      concurrency: int = 4, senders: list[str] | None = None, counties: list[str] | None = None,
                      profile: Path | None = None, name: str | None = None,
                      node: NodeProcess | None = None, processes: int = 1, http_workers: int = 0) -> dict[str, Any]:
    """Start a node (unless given one; `processes` node processes of the county on the one database, or one node
    split into `http_workers` HTTP workers and a background process), measure idle memory, then post `messages` in
    batches."""
    own = node is None
    keys = None
    replicas: list[NodeProcess] = []
    if node is None:
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        node = NodeProcess(name or f"ingest-{kind}", counties or [SENDER], database_url, bootstrap, prefix=prefix,
                           http_workers=http_workers)
        replicas = [NodeProcess(f"{node.name}-{i}", node.counties, database_url, bootstrap, prefix=prefix)
                    for i in range(1, processes)]
        for process in (node, *replicas):
            process.start()
        # Records leave sealed to their receiving county: a node of the receivers publishes their keys, and stops
        # once the sender has used them (the warm-up below waits for that), so it takes no CPU from the run.
        keys = NodeProcess(f"{node.name}-keys", RECEIVERS, sqlite_url(f"{node.name}-keys"), bootstrap, prefix=prefix)
        keys.start()
    result: dict[str, Any] = {"database": kind, "messages": messages, "batch": batch, "concurrency": concurrency,
                              "processes": 1 + len(replicas), "http_workers": http_workers}
    urls = [process.url for process in (node, *replicas)]
    engine = create_engine(database_url)
    spy = None
    try:
        if own:
            result["ready_seconds"] = round(max([await process.wait_ready() for process in (node, *replicas)]), 2)
        await asyncio.sleep(2)
        result["rss_idle_mib"] = rss_mib(node.pid)
        run = uuid.uuid4().hex[:8]
        warm = batch_bodies(run + "w", senders or SENDER, RECEIVERS, 2 * batch, batch)
        bodies = batch_bodies(run, senders or SENDER, RECEIVERS, messages, batch)
        await post_all(urls, warm, len(urls))
        while await unpublished(engine):  # start from an empty outbox
            await asyncio.sleep(0.1)
        if keys is not None:
            keys.stop()
        if profile is not None:
            spy = start_py_spy(node.pid, profile)
            await asyncio.sleep(1.0)
        cpu0 = _cpu([node, *replicas])
        with RssSampler(node.pid) as sampler:
            t0 = time.perf_counter()
            latencies, failures = await post_all(urls, bodies, concurrency)
            accepted = time.perf_counter() - t0
            cpu_accept = _cpu([node, *replicas])
            deadline = time.monotonic() + 300
            while await unpublished(engine) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            published = time.perf_counter() - t0
        cpu1 = _cpu([node, *replicas])
        if profile is not None:
            stop_py_spy(spy)
            result["profile"] = str(profile.relative_to(VAR.parent.parent)) if profile.exists() else "failed"
        result.update({
            "failures": failures,
            "accepted_seconds": round(accepted, 3),
            "accepted_per_s": round(messages / accepted, 1),
            "published_seconds": round(published, 3),
            "published_per_s": round(messages / published, 1),
            "request_p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "request_p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "node_cpu_ms_per_message": round((cpu_accept - cpu0) * 1000 / messages, 3) if cpu0 is not None else None,
            "node_cpu_ms_per_message_incl_publish": round((cpu1 - cpu0) * 1000 / messages, 3) if cpu0 is not None else None,
            **sampler.summary(),
        })
        result["rss_under_load_mib"] = result.pop("rss_peak_mib")
    finally:
        await engine.dispose()
        if own:
            for process in (node, *replicas):
                process.stop()
        if keys is not None:
            keys.stop()
    return result


def _cpu(processes: list[NodeProcess]) -> float | None:
    """CPU seconds of the node processes together."""
    seconds = [cpu_seconds(process.pid) for process in processes]
    return None if None in seconds else sum(seconds)


def records_for(messages: int, prefix: str = "mpx.v1") -> list[tuple]:
    bodies = batch_bodies("raw", SENDER, RECEIVERS, messages, 500)
    return kafka_records(bodies, prefix)
