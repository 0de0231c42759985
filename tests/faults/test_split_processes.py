"""A node split into processes (`mpx node --http-workers N`): HTTP workers on the node's port, one background process
running relay and consumer, all on one PostgreSQL database. They must behave as one node: every record published
once, the relay woken at once by the workers, a calendar override made through one process applied by all."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from tests.faults.conftest import (
    ADMIN,
    AUTH,
    HAISHU,
    HUI,
    all_delivered,
    batches,
    db_column,
    free_port,
    header,
    partition_of,
    topic_records,
    wait_until,
)

pytestmark = pytest.mark.integration

BATCHES, SIZE = 12, 100
#: So long that a record published within it was published because the HTTP worker woke the relay.
IDLE = "120"


async def test_http_workers_and_a_background_process_act_as_one_node(spawn_node, pg_database, prefix,
                                                                     kafka_bootstrap):
    sender_db, receiver_db = pg_database(), pg_database()
    sender_port, receiver_port = free_port(), free_port()
    sender_background, receiver_background = free_port(), free_port()
    receiver = spawn_node("haishu", HAISHU, receiver_db, prefix=prefix, bootstrap=kafka_bootstrap, port=receiver_port,
                          args=("--http-workers", "1", "--background-port", str(receiver_background)),
                          mpx_relay_idle_seconds=IDLE)
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=kafka_bootstrap, port=sender_port,
                        args=("--http-workers", "2", "--background-port", str(sender_background)),
                        mpx_relay_idle_seconds=IDLE)
    # Ready on the workers' port: the workers heard from the background process that it reaches the broker.
    await asyncio.gather(receiver.wait_ready(), sender.wait_ready())

    # A holiday added through the receiver's HTTP worker reaches the calendars of its background process.
    holiday = {"region": HAISHU, "date": "2031-05-06", "kind": "holiday", "name": "split-process test"}
    async with httpx.AsyncClient(timeout=30) as client:
        added = await client.post(f"{receiver.url}/v1/calendar/overrides", json=holiday, headers=ADMIN)
        assert added.status_code == 201, added.text

        async def background_knows() -> bool:
            seen = await client.get(f"http://127.0.0.1:{receiver_background}/v1/calendar/{HAISHU}/overrides",
                                    headers=ADMIN)
            return any(o["date"] == holiday["date"] for o in seen.json())

        await wait_until(background_knows, timeout=15, what="the override in the background process's calendars")

    load = batches("split", BATCHES, SIZE)
    everything = {m["id"] for batch in load for m in batch}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=sender.url, timeout=60, headers=AUTH) as client:
        answers = await asyncio.gather(*(client.post("/v1/messages/batch", json={"messages": b}) for b in load))
    assert [a.status_code for a in answers] == [202] * BATCHES, answers[0].text

    async def receiver_has_everything():
        received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
        return received if len(received) >= len(everything) else None

    received = await wait_until(receiver_has_everything, timeout=90, what=f"{len(everything)} records at {HAISHU}")
    delivered_after = time.monotonic() - started
    await wait_until(lambda: all_delivered(sender_db, len(everything)), timeout=90, what="every delivery receipt")

    records = await topic_records(kafka_bootstrap, f"{prefix}.records.33", partition_of(HAISHU))
    record_ids = Counter(header(r, "ce_id") for r in records)
    published_by = set(await db_column(sender_db, "SELECT DISTINCT claimed_by FROM outbox "
                                                  "WHERE published_at IS NOT NULL"))
    print(f"\n[split] {len(everything)} accepted by 2 HTTP workers; all stored at the receiver after "
          f"{delivered_after:.1f}s (relay idle {IDLE}s); published by {published_by}")
    assert len(records) == len(record_ids) == len(everything) and set(record_ids) == everything
    assert len(received) == len(set(received)) == len(everything)
    # Woken by the workers through the database, not by its own look at the outbox every IDLE seconds.
    assert delivered_after < float(IDLE) / 2
    # Only the background process publishes: one relay, on the background port.
    assert len(published_by) == 1 and published_by.pop().endswith(f":{sender_background}")

    for node in (sender, receiver):  # each waits for its background process to drain
        assert node.terminate() == 0
        assert "relay and consumer drained" in node.log_text()
    for port in (sender_port, sender_background, receiver_port, receiver_background):
        with pytest.raises(httpx.ConnectError):  # no process of the node is left behind
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

