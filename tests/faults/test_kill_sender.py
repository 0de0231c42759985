"""SIGKILL the sending node in the middle of a 10,000-message load, restart it: nothing accepted is lost,
nothing is stored twice."""

from __future__ import annotations

import asyncio
import random
import signal
import time

import httpx
import pytest

from tests.faults.conftest import AUTH, HAISHU, HUI, batches, db_column, db_scalar, header, topic_records, wait_until

pytestmark = pytest.mark.integration

BATCHES, SIZE, KILL_DURING = 20, 500, 8


async def test_a_sender_killed_mid_load_loses_and_duplicates_nothing(spawn_node, pg_database, prefix,
                                                                      kafka_bootstrap):
    sender_db, receiver_db = pg_database(), pg_database()
    receiver = spawn_node("haishu", HAISHU, receiver_db, prefix=prefix, bootstrap=kafka_bootstrap)
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=kafka_bootstrap, port=None)
    await asyncio.gather(receiver.wait_ready(), sender.wait_ready())
    load = batches("kill-sender", BATCHES, SIZE)
    outcome: dict[int, str] = {}

    async with httpx.AsyncClient(base_url=sender.url, timeout=120, headers=AUTH) as client:
        took = []
        for number in range(KILL_DURING):
            started = time.monotonic()
            response = await client.post("/v1/messages/batch", json={"messages": load[number]})
            took.append(time.monotonic() - started)
            outcome[number] = "202" if response.status_code == 202 else str(response.status_code)
        # The kill lands while batch KILL_DURING is being validated or stored, and while the relay publishes.
        posting = asyncio.create_task(client.post("/v1/messages/batch", json={"messages": load[KILL_DURING]}))
        await asyncio.sleep(random.uniform(0.2, 0.7) * sorted(took)[len(took) // 2])
        sender.kill()
        try:
            response = await posting
            outcome[KILL_DURING] = "202" if response.status_code == 202 else str(response.status_code)
        except httpx.HTTPError as exc:
            outcome[KILL_DURING] = f"no answer ({type(exc).__name__})"
    published_before_kill = await db_scalar(sender_db, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")

    sender.start()
    await sender.wait_ready()
    async with httpx.AsyncClient(base_url=sender.url, timeout=120, headers=AUTH) as client:
        for number in range(KILL_DURING + 1, BATCHES):
            response = await client.post("/v1/messages/batch", json={"messages": load[number]})
            assert response.status_code == 202, response.text
            outcome[number] = "202"

        accepted = {m["id"] for n, batch in enumerate(load) if outcome[n] == "202" for m in batch}
        stored = set(await db_column(sender_db, "SELECT id FROM messages WHERE direction = 'out'"))
        in_doubt = {m["id"] for m in load[KILL_DURING]}
        assert accepted <= stored, "a 202 was answered for a message the sender no longer has"
        assert stored <= accepted | in_doubt

        # The receiver ends with exactly what the sender stored: every accepted message, nothing twice.
        async def receiver_has_all_stored():
            received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
            return received if len(received) >= len(stored) else None

        received = await wait_until(receiver_has_all_stored, timeout=180, what=f"{len(stored)} records at 330203")
        assert len(received) == len(set(received)) == len(stored)
        assert set(received) == stored

        # The client never learnt what became of the batch in flight: it sends it again (same ids).
        if outcome[KILL_DURING] != "202":
            response = await client.post("/v1/messages/batch", json={"messages": load[KILL_DURING]})
            assert response.status_code == 202, response.text

    everything = {m["id"] for batch in load for m in batch}

    async def receiver_has_everything():
        received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
        return received if len(received) >= len(everything) else None

    received = await wait_until(receiver_has_everything, timeout=120, what="all 10,000 records at 330203")
    assert len(received) == len(set(received)) == BATCHES * SIZE and set(received) == everything
    delivered = await wait_until(
        lambda: _delivered(sender_db, len(everything)), timeout=120, what="receipts for all 10,000 at the sender")
    topic, partition = f"{prefix}.records.33", _partition(HAISHU)
    wire_ids = [header(r, "ce_id") for r in await topic_records(kafka_bootstrap, topic, partition)]

    accepted_count = sum(SIZE for n in outcome if outcome[n] == "202")
    print(f"\n[kill sender] batches posted {BATCHES}x{SIZE}; 202 before the kill {KILL_DURING}, "
          f"batch in flight at the kill: {outcome[KILL_DURING]} "
          f"({'stored' if in_doubt <= stored else 'not stored'} by the node before it died); "
          f"published before the kill {published_before_kill}; accepted {accepted_count} "
          f"+ {0 if outcome[KILL_DURING] == '202' else SIZE} resent by the client; "
          f"receiver holds {len(received)} ({len(set(received))} distinct); sender sees {delivered} delivered; "
          f"records on the topic {len(wire_ids)} ({len(wire_ids) - len(set(wire_ids))} duplicates on the wire, "
          f"dropped by the receiver's inbox)")
    for node in (sender, receiver):  # SIGTERM: in-flight work drained, clean exit (uvicorn re-raises the signal)
        assert node.terminate() in (0, -signal.SIGTERM)
        assert "relay and consumer drained" in node.log_text() and "Application shutdown complete" in node.log_text()


async def _delivered(url: str, expected: int) -> int | None:
    count = await db_scalar(url, "SELECT count(*) FROM messages WHERE direction = 'out' AND delivered_at IS NOT NULL")
    return count if count >= expected else None


def _partition(county: str) -> int:
    from exchange.adapters.kafka.topics import TopicScheme

    return TopicScheme("x", 8).partition_for(county)
