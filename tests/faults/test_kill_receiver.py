"""SIGKILL the receiving node while it consumes a 10,000-message load, restart it: every record is stored once."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.faults.conftest import AUTH, HAISHU, HUI, batches, db_column, db_scalar, wait_until

pytestmark = pytest.mark.integration

BATCHES, SIZE = 20, 500


async def test_a_receiver_killed_while_consuming_stores_every_record_once(spawn_node, pg_database, prefix,
                                                                          kafka_bootstrap):
    sender_db, receiver_db = pg_database(), pg_database()
    receiver = spawn_node("haishu", HAISHU, receiver_db, prefix=prefix, bootstrap=kafka_bootstrap)
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=kafka_bootstrap)
    await asyncio.gather(receiver.wait_ready(), sender.wait_ready())
    load = batches("kill-receiver", BATCHES, SIZE)
    everything = {m["id"] for batch in load for m in batch}

    async def post_everything() -> None:
        async with httpx.AsyncClient(base_url=sender.url, timeout=120, headers=AUTH) as client:
            for batch in load:
                response = await client.post("/v1/messages/batch", json={"messages": batch})
                assert response.status_code == 202, response.text

    # Watched while the load is still being posted: a receiver that keeps pace with the sender is past the middle
    # by the time the last batch is accepted.
    posting = asyncio.create_task(post_everything())
    count_in = "SELECT count(*) FROM messages WHERE direction = 'in'"
    at_kill = await wait_until(lambda: _between(receiver_db, count_in, 2000, len(everything) - 2000), timeout=120,
                               what="the receiver to be part-way through the load", every=0.05)
    receiver.kill()
    await posting  # the sender accepts the whole load whatever happens to the receiver
    after_kill = await db_scalar(receiver_db, count_in)
    position = await db_scalar(receiver_db, "SELECT max(next_offset) FROM consumer_offsets")

    receiver.start()
    await receiver.wait_ready()

    async def receiver_has_everything():
        received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
        return received if len(received) >= len(everything) else None

    received = await wait_until(receiver_has_everything, timeout=180, what="all 10,000 records at 330203")
    assert len(received) == len(set(received)) == len(everything) and set(received) == everything
    inbox = await db_scalar(receiver_db, "SELECT count(*) FROM inbox WHERE type = 'outflow_registration'")
    assert inbox == len(everything)
    delivered = await wait_until(
        lambda: _between(sender_db, "SELECT count(*) FROM messages WHERE direction = 'out' AND delivered_at IS NOT NULL",
                         len(everything), len(everything)),
        timeout=120, what="receipts for all 10,000 at the sender")
    receipts = await db_scalar(sender_db, "SELECT count(*) FROM inbox WHERE type = 'delivery_receipts'")
    replayed = receiver.log_text().split("===== start #2 =====")[1].count("duplicate record")
    print(f"\n[kill receiver] sent {len(everything)}; receiver had stored {at_kill} when killed "
          f"({after_kill} committed, consumer position {position}); after restart it holds {len(received)} "
          f"({len(set(received))} distinct, inbox {inbox}); {replayed} records read again after the restart and "
          f"dropped as duplicates; sender sees {delivered} delivered, {receipts} distinct receipts")
    for node in (sender, receiver):
        assert node.terminate() in (0, -signal.SIGTERM)
        assert "relay and consumer drained" in node.log_text()


async def _between(url: str, sql: str, low: int, high: int) -> int | None:
    value = await db_scalar(url, sql)
    return value if low <= value <= high else None
