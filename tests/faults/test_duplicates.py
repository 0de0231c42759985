"""The same message id posted twice, and the same record delivered twice by the broker: one message, one
obligation."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from exchange.adapters.sql.tables import inbox, messages, obligations, outbox
from tests.faults.conftest import ADMIN_TOKEN, HAISHU, HUI, header, outflow, partition_of, topic_records, wait_until

pytestmark = pytest.mark.integration


async def test_a_message_posted_twice_and_delivered_twice_is_stored_once(sqlite_federation, kafka_bootstrap):
    fed = sqlite_federation
    hui = await fed.start(HUI, reconcile_at="", admin_token=ADMIN_TOKEN)
    haishu = await fed.start(HAISHU, reconcile_at="", admin_token=ADMIN_TOKEN)
    twice = outflow(1, "dup-000001")

    first = await hui.client.send(twice)
    again = await hui.client.send(twice)  # a client retrying after a timeout
    in_batch = await hui.client.send_batch([twice, outflow(2, "dup-000002")])
    assert first == again == in_batch[0] == "dup-000001"
    await wait_until(lambda: _has(haishu, 2, messages, messages.c.id.in_(["dup-000001", "dup-000002"])),
                     timeout=60, what="both records at 330203")

    # The broker hands the same record over twice: write a copy of it straight onto the topic.
    topic, partition = f"{fed.prefix}.records.33", partition_of(HAISHU)
    [original] = [r for r in await topic_records(kafka_bootstrap, topic, partition) if header(r, "ce_id") == first]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, original.value, key=original.key, partition=partition,
                                     headers=list(original.headers))
    finally:
        await producer.stop()
    marker = await hui.client.send(outflow(3, "dup-000003"))  # behind the copy: once it is in, the copy was read
    await wait_until(lambda: _has(haishu, 1, messages, messages.c.id == marker), timeout=60,
                     what="the record behind the copy")

    copies = [r for r in await topic_records(kafka_bootstrap, topic, partition) if header(r, "ce_id") == first]
    counts = {
        "sender messages": await _count(hui, messages, messages.c.id == first),
        "sender outbox": await _count(hui, outbox, outbox.c.message_id == first),
        "records on the topic": len(copies),
        "receiver messages": await _count(haishu, messages, messages.c.id == first),
        "receiver inbox": await _count(haishu, inbox, inbox.c.message_id == first),
        "receiver obligations": await _count(haishu, obligations, obligations.c.message_id == first),
        "receiver inbox items": len([i for i in await haishu.client.inbox_all() if i["id"] == first]),
    }
    print(f"\n[duplicates] posted 3 times (single, single, in a batch), on the topic twice: {counts}")
    assert counts == {"sender messages": 1, "sender outbox": 1, "records on the topic": 2, "receiver messages": 1,
                      "receiver inbox": 1, "receiver obligations": 1, "receiver inbox items": 1}


async def _count(node, table, *where) -> int:  # noqa: ANN001
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table).where(*where))


async def _has(node, count: int, table, *where) -> bool:  # noqa: ANN001
    return await _count(node, table, *where) == count
