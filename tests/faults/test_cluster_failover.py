"""A broker of a three-broker Kafka cluster dies (SIGKILL) under steady traffic between two nodes: the one that
leads the busiest partition. The other two take over (replication factor 3, min.insync.replicas 2, acks=all), the
broker is brought back and rejoins; every accepted record arrives once, and the pause the nodes saw is measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import infra
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.faults.conftest import HAISHU, HUI, db_scalar, partition_of, post_steadily, wait_until

pytestmark = pytest.mark.integration

BATCH, EVERY = 10, 0.1  # messages per POST, seconds between POSTs (100 messages a second)
REPLICAS, MIN_INSYNC = 3, 2


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.KafkaCluster]:
    """Three brokers for this module only (256 MiB of heap each)."""
    try:
        cluster = infra.start_kafka_cluster(tmp_path_factory.mktemp("kafka-cluster"), brokers=REPLICAS)
    except infra.InfraError as exc:
        pytest.fail(f"the three-broker Kafka cluster could not start:\n{exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_the_leader_of_the_busiest_partition_killed_and_brought_back_loses_and_repeats_nothing(
        spawn_node, pg_database, prefix, kafka_cluster):
    bootstrap = kafka_cluster.bootstrap
    topic, partition = f"{prefix}.records.{HAISHU[:2]}", partition_of(HAISHU)  # where every record of the load goes
    sender_db, receiver_db = pg_database(), pg_database()
    replication = {"mpx_topic_replication": REPLICAS, "mpx_topic_min_insync_replicas": MIN_INSYNC}
    receiver = spawn_node("haishu", HAISHU, receiver_db, prefix=prefix, bootstrap=bootstrap, **replication)
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=bootstrap, **replication)
    await asyncio.gather(receiver.wait_ready(), sender.wait_ready())

    accepted: list[str] = []
    stop = asyncio.Event()

    async def answered(ids: list[str], response: httpx.Response) -> None:
        assert response.status_code == 202, response.text  # the outbox takes them whatever the brokers do
        accepted.extend(ids)

    count_in = "SELECT count(*) FROM messages WHERE direction = 'in'"
    posting = asyncio.create_task(post_steadily(sender.url, "cluster", BATCH, EVERY, stop, answered))
    try:
        await wait_until(lambda: _at_least(receiver_db, count_in, 200), timeout=60, what="steady deliveries")
        before = await _partition(bootstrap, topic, partition)
        assert len(before["replicas"]) == REPLICAS and sorted(before["isr"]) == sorted(before["replicas"]), before
        assert await _min_insync(bootstrap, topic) == str(MIN_INSYNC)
        victim = before["leader"]
        await asyncio.to_thread(kafka_cluster.kill, victim)  # the traffic goes on meanwhile
        killed_at, at_kill = time.monotonic(), await db_scalar(receiver_db, count_in)
        # The other two carry on: deliveries go on, from a new leader.
        await wait_until(lambda: _at_least(receiver_db, count_in, at_kill + 200), timeout=60,
                         what="deliveries with one broker dead")
        during = await _partition(bootstrap, topic, partition)
        assert during["leader"] not in (victim, -1) and victim not in during["isr"], during
        recovered_in = time.monotonic() - killed_at
        await asyncio.to_thread(kafka_cluster.resume, victim)
        await wait_until(lambda: _in_sync(bootstrap, topic, partition, victim), timeout=60,
                         what=f"broker {victim} back in the in-sync replicas")
        await asyncio.sleep(1)  # traffic with the three brokers again
    finally:
        stop.set()
        await posting

    async def all_delivered_and_receipted():
        received = await db_scalar(receiver_db, count_in)
        receipted = await db_scalar(sender_db, "SELECT count(*) FROM messages WHERE direction = 'out' "
                                               "AND delivered_at IS NOT NULL")
        return (received, receipted) if received >= len(accepted) and receipted >= len(accepted) else None

    await wait_until(all_delivered_and_receipted, timeout=60, what=f"{len(accepted)} records received and receipted")
    received = await _times(receiver_db, "in")
    assert sorted(received) == sorted(accepted) and len(received) == len(set(received)) == len(accepted)
    pause = _largest_gap(sorted(received.values()))
    sent = await _times(sender_db, "out")
    slowest = max((received[i] - sent[i]).total_seconds() for i in accepted)
    accepting = _largest_gap(sorted(sent.values()))  # a gap at the receiver longer than this one is the brokers'
    print(f"\n[cluster failover] {REPLICAS} brokers, min.insync.replicas {MIN_INSYNC}, acks=all; killed broker "
          f"{victim}, leader of {topic}/{partition}; new leader {during['leader']}, deliveries past +200 after "
          f"{recovered_in:.1f}s; broker {victim} resumed and back in sync; {len(accepted)} accepted, "
          f"{len(received)} received ({len(set(received))} distinct), {len(accepted)} receipted; pause the nodes "
          f"saw (largest gap between deliveries): {pause:.1f}s; slowest record accepted->stored {slowest:.1f}s; largest gap "
          f"between acceptances at the sender {accepting:.1f}s")


async def _at_least(url: str, sql: str, count: int) -> bool:
    return await db_scalar(url, sql) >= count


async def _times(url: str, direction: str) -> dict[str, datetime]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, created_at FROM messages WHERE direction = :d"), {"d": direction})
            return {message_id: at for message_id, at in rows}
    finally:
        await engine.dispose()


def _largest_gap(times: list[datetime]) -> float:
    return max((b - a).total_seconds() for a, b in zip(times, times[1:]))


async def _partition(bootstrap: str, topic: str, partition: int) -> dict:
    """Leader, replicas and in-sync replicas of one partition, as the cluster's metadata says."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return next(p for p in described["partitions"] if p["partition"] == partition)
    finally:
        await admin.close()


async def _in_sync(bootstrap: str, topic: str, partition: int, broker: int) -> bool:
    return broker in (await _partition(bootstrap, topic, partition))["isr"]


async def _min_insync(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return next(value for name, value, *_ in entries if name == "min.insync.replicas")
    finally:
        await admin.close()
