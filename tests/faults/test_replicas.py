"""Two replicas of one node on one PostgreSQL share the work: every message is published once and stored once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter

import httpx
import pytest

from tests.faults.conftest import (
    AUTH,
    HAISHU,
    HUI,
    all_delivered,
    batches,
    db_column,
    header,
    partition_of,
    topic_records,
    wait_until,
)

pytestmark = pytest.mark.integration

BATCHES, SIZE = 20, 200


async def test_two_replicas_of_each_node_publish_and_store_every_message_once(spawn_node, pg_database, prefix,
                                                                                kafka_bootstrap):
    sender_db, receiver_db = pg_database(), pg_database()
    receivers = [spawn_node(f"haishu#{n}", HAISHU, receiver_db, prefix=prefix, bootstrap=kafka_bootstrap)
                 for n in (1, 2)]
    senders = [spawn_node(f"hui#{n}", HUI, sender_db, prefix=prefix, bootstrap=kafka_bootstrap) for n in (1, 2)]
    await asyncio.gather(*(node.wait_ready() for node in receivers + senders))
    load = batches("replicas", BATCHES, SIZE)
    everything = {m["id"] for batch in load for m in batch}

    async def post(replica, mine) -> None:  # noqa: ANN001
        async with httpx.AsyncClient(base_url=replica.url, timeout=120, headers=AUTH) as client:
            for batch in mine:
                response = await client.post("/v1/messages/batch", json={"messages": batch})
                assert response.status_code == 202, response.text

    # Both replicas accept at the same time, each every other batch.
    await asyncio.gather(post(senders[0], load[0::2]), post(senders[1], load[1::2]))

    async def receiver_has_everything():
        received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
        return received if len(received) >= len(everything) else None

    received = await wait_until(receiver_has_everything, timeout=180, what=f"{len(everything)} records at 330203")
    await wait_until(lambda: all_delivered(sender_db, len(everything)), timeout=120, what="every receipt")
    await asyncio.sleep(2)  # anything published twice would be on the topics by now

    records = await topic_records(kafka_bootstrap, f"{prefix}.records.33", partition_of(HAISHU))
    record_ids = Counter(header(r, "ce_id") for r in records)
    receipts = await topic_records(kafka_bootstrap, f"{prefix}.records.62", partition_of(HUI))
    receipt_ids = Counter(header(r, "ce_id") for r in receipts if header(r, "ce_type") == "cn.mpx.delivery_receipts")
    published_by = dict(Counter(await db_column(
        sender_db, "SELECT claimed_by FROM outbox WHERE published_at IS NOT NULL AND topic LIKE '%.records.33'")))
    receipts_by = dict(Counter(await db_column(
        receiver_db, "SELECT claimed_by FROM outbox WHERE published_at IS NOT NULL AND topic LIKE '%.records.62'")))
    consuming = {node.name: _partitions_consumed(node.log_text()) for node in receivers + senders}
    print(f"\n[replicas] 2 sender and 2 receiver replicas; {len(everything)} accepted (half by each sender replica); "
          f"records on the topic {len(records)} ({len(record_ids)} distinct, "
          f"{sum(c - 1 for c in record_ids.values())} published twice); receipts on the topic {sum(receipt_ids.values())} "
          f"({len(receipt_ids)} distinct); receiver holds {len(received)}; records published by relay {published_by}; "
          f"receipts published by relay {receipts_by}; partitions consumed per replica {consuming}")
    assert len(records) == len(record_ids) == len(everything) and set(record_ids) == everything
    # none published twice; each acknowledges the records of a consumer batch (every record delivered: above)
    assert sum(receipt_ids.values()) == len(receipt_ids) < len(everything)
    assert len(received) == len(set(received)) == len(everything)
    # The partition of each county is consumed by exactly one replica of its node.
    assert sorted(consuming[r.name] for r in receivers) == [0, 1]
    assert sorted(consuming[s.name] for s in senders) == [0, 1]
    for node in receivers + senders:
        assert node.terminate() in (0, -signal.SIGTERM)


def _partitions_consumed(log: str) -> int:
    found = re.findall(r"consuming (\d+) of \d+ partitions", log)
    return int(found[-1]) if found else 0



async def test_replicas_starting_together_migrate_the_database_once(pg_database):
    url = pg_database()
    env = {**os.environ, "DATABASE_URL": url}
    runs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "exchange.entrypoints.cli", "migrate", env=env,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            for _ in range(3)]  # would collide on CREATE TABLE without the migration lock
    outputs = [(await run.communicate())[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
    assert len(await db_column(url, "SELECT version_num FROM alembic_version")) == 1
