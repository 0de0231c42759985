"""Figure 2 (end to end): latency from the sender's 202 to the record in the receiver's inbox, at a fixed
offered load between two nodes, beside a bare Kafka producer -> consumer at the same rate (baseline).

Open loop: every `batch / rate` seconds a POST /v1/messages/batch of `batch` messages leaves, whether or
not earlier ones were answered. For each message:
- stored   = the receiver's `received_at` (in its inbox item) - the wall time the sender's 202 arrived;
- visible  = when an inbox poller (GET /v1/inbox with a cursor, every `poll` s) first saw it - the 202;
- accepted = received_at - the sender's own `accepted_at` (its created_at, read from its database).
The first `warmup` seconds are not counted. If the nodes do not keep up with the target rate
(achieved < 95 %, p99 over 5 s, or messages still missing
15 s after the last was sent), the next lower rate is tried and the answer says so.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select

from exchange.adapters.kafka.admin import TopicProvisioner
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.sql.database import create_engine
from exchange.adapters.sql.tables import messages, outbox
from tests.benchmarks.common import (
    VAR,
    NodeProcess,
    client,
    cpu_of,
    cpu_seconds,
    message_pool,
    percentile,
    post_batch,
    producer_settings,
    start_py_spy,
    stop_py_spy,
)

SENDER, RECEIVER = "621227", "330203"


def _ms(values: list[float]) -> dict[str, float | None]:
    return {"p50_ms": _r(percentile(values, 50)), "p99_ms": _r(percentile(values, 99)),
            "max_ms": _r(max(values) if values else None)}


def _windows(counted: list[str], acked: dict[str, float], received: dict[str, float],
             depths: list[tuple[float, int]], start: float, window: float) -> list[dict[str, Any]]:
    """Per window of the measured run: stored latency p50/p99 (by the 202's time), records missing, the deepest
    outbox sampled."""
    buckets: dict[int, list[str]] = {}
    for m in counted:
        buckets.setdefault(int((acked[m] - start) // window), []).append(m)
    out = []
    for i in sorted(buckets):
        ids = buckets[i]
        depth = [d for t, d in depths if start + i * window <= t < start + (i + 1) * window]
        out.append({"window": i, "messages": len(ids), "missing": sum(m not in received for m in ids),
                    **_ms([received[m] - acked[m] for m in ids if m in received]),
                    "outbox_depth_max": max(depth) if depth else None})
    return out


def _r(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def kafka_baseline(bootstrap: str, rate: float, seconds: float, batch: int) -> dict[str, Any]:
    """Producer -> broker -> consumer latency of the same ~1 KB records at the same rate (no node)."""
    topics = TopicScheme(f"rawe2e{uuid.uuid4().hex[:8]}", 8)
    topic, partition = topics.address(RECEIVER)
    await TopicProvisioner({"bootstrap_servers": bootstrap}, 8, 1).ensure({topic})
    tp = TopicPartition(topic, partition)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **producer_settings())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    pool = [orjson.dumps(m["data"]) for m in message_pool(SENDER, RECEIVER)]
    sent: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set() or len(seen) < len(sent):
            batches = await consumer.getmany(tp, timeout_ms=100)
            now = time.time()
            for record in batches.get(tp, []):
                seen.setdefault(record.key, now)
            if stop.is_set() and time.time() > stop_at + 10:
                break

    stop_at = float("inf")
    reader = asyncio.create_task(consume())
    try:
        interval, n, t0 = batch / rate, 0, time.perf_counter()
        tick = 0
        while time.perf_counter() - t0 < seconds:
            for _ in range(batch):
                key = f"{n:09d}".encode()
                sent[key] = time.time()
                await producer.send(topic, value=pool[n % len(pool)], key=key, partition=partition)
                n += 1
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * interval - time.perf_counter()))
        await producer.flush()
        stop_at = time.time()
        stop.set()
        await asyncio.wait_for(reader, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    warm = int(len(sent) * 0.15)
    keys = list(sent)[warm:]
    latencies = [seen[k] - sent[k] for k in keys if k in seen]
    return {"rate": rate, "messages": len(keys), "lost": len(keys) - len(latencies), **_ms(latencies)}


async def nodes_e2e(kind: str, database_urls: tuple[str, str], bootstrap: str, *, rate: float, seconds: float,
                    batch: int, warmup: float = 3.0, poll: float = 0.02, profile: bool = False,
                    window: float | None = None, http_workers: int = 0) -> dict[str, Any]:
    """Two nodes, `rate` messages/s offered to the sender for `seconds`; with `window` (s), also the latencies and
    the sender's outbox depth per window of the run (a sustained run: do they stay bounded?). With `http_workers`,
    each node is split into that many HTTP workers and a background process."""
    prefix = f"benche2e{uuid.uuid4().hex[:8]}"
    sender = NodeProcess(f"e2e-{kind}-sender", [SENDER], database_urls[0], bootstrap, prefix,
                         extra_env={"MPX_RELAY_IDLE_SECONDS": "0.2"}, http_workers=http_workers)
    receiver = NodeProcess(f"e2e-{kind}-receiver", [RECEIVER], database_urls[1], bootstrap, prefix,
                           extra_env={"MPX_RELAY_IDLE_SECONDS": "0.2"}, http_workers=http_workers)
    sender.start()
    receiver.start()
    try:
        await asyncio.gather(sender.wait_ready(), receiver.wait_ready())
        await asyncio.sleep(3)  # the receiver's consumer takes its partitions
        spies = [start_py_spy(node.pid, VAR / f"profile-e2e-{kind}-{role}.txt")
                 for node, role in ((sender, "sender"), (receiver, "receiver"))] if profile else []
        try:
            before = _cpu(sender, receiver)
            started = time.monotonic()
            result = await _offered_load(sender, receiver, database_urls[0], rate=rate, seconds=seconds,
                                         batch=batch, warmup=warmup, poll=poll, window=window)
            elapsed = time.monotonic() - started
            result["http_workers"] = http_workers
            # Cores each part kept busy during the run (2 here): what the nodes need beside PostgreSQL and Kafka.
            result["cores_busy"] = {part: round((after - before[part]) / elapsed, 2)
                                    for part, after in _cpu(sender, receiver).items()}
        finally:
            for spy in spies:
                stop_py_spy(spy)
        if profile:
            result["profiles"] = [str((VAR / f"profile-e2e-{kind}-{role}.txt").relative_to(VAR.parent.parent))
                                  for role in ("sender", "receiver")]
        return result
    finally:
        sender.stop()
        receiver.stop()


def _cpu(sender: NodeProcess, receiver: NodeProcess) -> dict[str, float]:
    return {"sender": cpu_seconds(sender.pid) or 0.0, "receiver": cpu_seconds(receiver.pid) or 0.0,
            "load and bench": sum(os.times()[:2]), **cpu_of("postgres", "java")}


async def _offered_load(sender: NodeProcess, receiver: NodeProcess, sender_db: str, *, rate: float, seconds: float,
                        batch: int, warmup: float, poll: float, drain: float = 15.0,
                        window: float | None = None) -> dict[str, Any]:
    pool = message_pool(SENDER, RECEIVER)
    run = uuid.uuid4().hex[:8]
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    received: dict[str, float] = {}
    failures = 0
    done_at = float("inf")
    in_flight: set[asyncio.Task] = set()
    done_sending = asyncio.Event()

    async with client(sender.url) as out_http, client(receiver.url) as in_http:
        async def post(ids: list[str], body: bytes) -> None:
            nonlocal failures
            try:
                response = await post_batch(out_http, body)
            except httpx.HTTPError:
                failures += 1
                return
            now = time.time()
            if response.status_code == 202:
                for message_id in ids:
                    acked[message_id] = now
            else:
                failures += 1

        async def poller() -> None:
            cursor = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                try:
                    response = await in_http.get("/v1/inbox", params=params)
                    response.raise_for_status()
                except httpx.HTTPError:
                    await asyncio.sleep(poll)
                    continue
                now = time.time()
                page = response.json()
                for item in page["items"]:
                    seen.setdefault(item["id"], now)
                    received[item["id"]] = datetime.fromisoformat(item["received_at"]).timestamp()
                cursor = page["next_cursor"]
                if done_sending.is_set():
                    if len(seen) >= len(acked):
                        return
                    if now - done_at > drain:  # far behind: what has not arrived by now counts as missing
                        return
                if not page["has_more"]:
                    await asyncio.sleep(poll)

        depths: list[tuple[float, int]] = []  # (time, unpublished outbox rows of the sender)

        async def outbox_depth() -> None:
            engine = create_engine(sender_db)
            try:
                while True:
                    async with engine.connect() as conn:
                        depth = await conn.scalar(select(func.count()).select_from(outbox)
                                                  .where(outbox.c.published_at.is_(None)))
                    depths.append((time.time(), depth))
                    await asyncio.sleep(5)
            finally:
                await engine.dispose()

        polling = asyncio.create_task(poller())
        interval, n, tick = batch / rate, 0, 0
        t0 = time.perf_counter()
        started = time.time()
        sampling = asyncio.create_task(outbox_depth()) if window else None
        measured_from = None
        while time.perf_counter() - t0 < warmup + seconds:
            if measured_from is None and time.perf_counter() - t0 >= warmup:
                measured_from = n
            ids = [f"{run}-{n + i:08d}" for i in range(batch)]
            items = [{**pool[(n + i) % len(pool)], "id": ids[i], "sender": SENDER} for i in range(batch)]
            task = asyncio.create_task(post(ids, orjson.dumps({"messages": items})))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += batch
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * interval - time.perf_counter()))
        sent_seconds = time.perf_counter() - t0
        if sampling is not None:
            sampling.cancel()
        await asyncio.gather(*list(in_flight))
        done_at = time.time()
        done_sending.set()
        await polling

    engine = create_engine(sender_db)
    try:
        async with engine.connect() as conn:
            stamps = (await conn.execute(select(messages.c.id, messages.c.created_at, messages.c.published_at)
                                         .where(messages.c.direction == "out"))).all()
        accepted_at = {r.id: r.created_at.timestamp() for r in stamps}
        published_at = {r.id: r.published_at.timestamp() for r in stamps if r.published_at is not None}
    finally:
        await engine.dispose()
    counted = [f"{run}-{i:08d}" for i in range((measured_from or 0), n)]
    counted = [m for m in counted if m in acked]
    stored = [received[m] - acked[m] for m in counted if m in received]
    visible = [seen[m] - acked[m] for m in counted if m in seen]
    from_accept = [received[m] - accepted_at[m] for m in counted if m in received and m in accepted_at]
    # where the time goes: 202 -> marked published by the sender's relay -> stored by the receiver
    to_published = [published_at[m] - acked[m] for m in counted if m in published_at]
    published_to_stored = [received[m] - published_at[m] for m in counted if m in received and m in published_at]
    achieved = len(acked) / sent_seconds
    result = {
        "rate_offered": rate, "rate_achieved": round(achieved, 1), "batch": batch, "seconds": seconds,
        "messages": len(counted), "missing": len(counted) - len(stored), "failures": failures,
        "stored": _ms(stored), "visible": _ms(visible), "from_accepted_at": _ms(from_accept),
        "published_by_sender": {**_ms(to_published), "unpublished": len(counted) - len(to_published)},
        "published_to_stored": _ms(published_to_stored),
        "poll_interval_ms": poll * 1000,
    }
    if window:
        result["windows"] = _windows(counted, acked, received, depths, started + warmup, window)
    if result["missing"]:  # percentiles of what arrived would flatter: the missing ones are later than all
        result["stored"]["p99_ms"] = result["visible"]["p99_ms"] = result["from_accepted_at"]["p99_ms"] = None
        result["note"] = f"{result['missing']} of {len(counted)} not in the inbox {drain:.0f} s after sending ended"
    p99 = result["stored"]["p99_ms"]
    result["kept_up"] = bool(achieved >= 0.95 * rate and not result["missing"] and p99 is not None and p99 < 5000)
    return result
