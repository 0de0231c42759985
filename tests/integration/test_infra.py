"""Smoke tests for the real infrastructure fixtures (Apache Kafka + PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from infra import fresh_postgres_database
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration


async def test_kafka_roundtrip_with_headers(kafka_bootstrap: str) -> None:
    topic = f"infra-smoke-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        resp = await admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])
        assert all(err[1] == 0 for err in resp.topic_errors), resp
        meta = await admin.describe_topics([topic])
        assert len(meta[0]["partitions"]) == 8
    finally:
        await admin.close()

    headers = [("record-type", b"migrant.registration"), ("trace-id", uuid.uuid4().hex.encode())]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        md = await producer.send_and_wait(topic, b'{"id": 1}', key=b"k-1", partition=5, headers=headers)
    finally:
        await producer.stop()
    assert (md.partition, md.offset) == (5, 0)

    tp = TopicPartition(topic, 5)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"infra-smoke-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        records = []
        for _ in range(20):
            batch = await consumer.getmany(tp, timeout_ms=500)
            records.extend(batch.get(tp, []))
            if records:
                break
        assert len(records) == 1
        rec = records[0]
        assert (rec.key, rec.value, rec.offset) == (b"k-1", b'{"id": 1}', 0)
        assert list(rec.headers) == headers
        # manual assignment + group offsets (what the node uses)
        await consumer.commit({tp: rec.offset + 1})
        assert await consumer.committed(tp) == 1
    finally:
        await consumer.stop()


async def test_postgres_roundtrip(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://")
    url = fresh_postgres_database(postgres_url, prefix="infra_smoke")
    assert url != postgres_url

    metadata = MetaData()
    people = Table(
        "people",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(64), nullable=False),
    )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(people.insert(), [{"id": 1, "name": "张三"}, {"id": 2, "name": "李四"}])
        async with engine.connect() as conn:
            rows = (await conn.execute(select(people.c.id, people.c.name).order_by(people.c.id))).all()
            assert [tuple(r) for r in rows] == [(1, "张三"), (2, "李四")]
            assert (await conn.execute(text("SELECT current_database()"))).scalar_one() == url.rsplit("/", 1)[1]
    finally:
        await engine.dispose()

    # the session database itself is usable too
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_database()"))).scalar_one() == "mpx"
    finally:
        await engine.dispose()
