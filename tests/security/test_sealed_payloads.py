"""Attack: reading people off the shared topics. Every county node of a province reads its province's topic, the
broker's operator reads everything, and so does anyone with the dead-letter topic. Before payloads were sealed end
to end each of them read names, ID numbers and pregnancies addressed to other counties; now a plain Kafka consumer
of every topic of a federation finds no personal field, in values or headers, after all message types went both ways.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from contracts import MessageType
from contracts.cloudevents import encode_data, to_headers
from exchange.domain.clock import utcnow
from exchange.domain.message import new_envelope
from exchange.entrypoints.cli import app as mpx
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_privacy import exchange_people, people_in
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message
from tests.integration.test_trust import produce, quarantined

pytestmark = pytest.mark.integration


async def every_record(bootstrap: str, prefix: str) -> list[Any]:
    """Every record of every topic of the federation, as any Kafka client with read access sees it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - topics() drops the partitions
        topics = [t for t in cluster.topics() if t.startswith(prefix + ".")]
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        assert partitions, f"no topic of {prefix}"
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, first in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, first)
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind() and loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


def clear_record(hui: RunningNode, data: dict, message_id: str) -> tuple[list[tuple[str, bytes]], bytes]:
    """A record under the released 1.0 binding (data in clear), genuinely signed by Hui County's node."""
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=utcnow(), message_id=message_id)
    value = encode_data(data)
    return hui.node.trust.signed_headers(to_headers(envelope), value), value


async def test_a_plain_consumer_of_every_topic_reads_no_name_and_no_id_number(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    await federation.start_monitor("all")
    sent, ids, _ = await exchange_people(hui, haishu, first_seed=61)
    # A record in clear, as a sender still on the 1.0 binding would put it: refused, and dead-lettered sealed.
    clear = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 70)
    headers, value = clear_record(hui, clear["data"], "clear-1")
    await produce(federation.bootstrap, *haishu.node.topics.address(HAISHU), HAISHU, value, headers)
    await eventually(lambda: _quarantined_as(haishu, ("unsealed", "clear-1")), what="the clear record refused")
    await eventually(lambda: _published_everything(hui, haishu), what="every outbox record published")

    names, numbers = people_in([*sent, clear])
    records = await every_record(federation.bootstrap, federation.prefix)
    topics = {r.topic.removeprefix(federation.prefix + ".").split(".")[0] for r in records}
    assert {"records", "deadletter", "monitor", "keys"} <= topics
    assert len([r for r in records if r.topic.endswith(".records.33")]) >= 4
    for record in records:
        if record.topic.endswith(".records.33") and ("ce_id", b"clear-1") in record.headers:
            continue  # the 1.0 sender's own record; its dead-letter copy is checked
        seen = (record.value or b"") + b"".join(k.encode() + v for k, v in record.headers)
        for secret in names | numbers:
            assert secret.encode() not in seen, f"personal data in clear on {record.topic}"
    print(f"read {len(records)} records of {sorted(topics)}: none carries any of {len(names)} names or "
          f"{len(numbers)} ID numbers")
    # The two counties themselves read everything in clear.
    for message_id, m in zip(ids, sent):
        receiver = haishu if m["receiver"] == HAISHU else hui
        _, own_numbers = people_in([m])
        opened = orjson.dumps((await receiver.client.message(message_id))["data"]).decode()
        assert own_numbers and all(number in opened for number in own_numbers)


async def test_clear_records_are_taken_only_while_the_operator_keeps_the_migration_window_open(
        federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU, accept_clear_records=True)
    clear = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 71)
    headers, value = clear_record(hui, clear["data"], "clear-2")
    await produce(federation.bootstrap, *haishu.node.topics.address(HAISHU), HAISHU, value, headers)
    await eventually(lambda: in_inbox(haishu, "clear-2"), what="the 1.0 record in the migration window")
    assert (await haishu.client.message("clear-2"))["data"] == clear["data"]
    assert await quarantined(haishu) == []


async def test_records_to_a_county_that_has_published_no_key_wait_and_then_go_out_sealed(federation: Federation):
    hui = await federation.start(HUI)
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, 72)
    first = await hui.client.send(posted)
    await asyncio.sleep(1.5)  # several relay rounds
    assert (await hui.client.message(first))["state"] == "accepted"  # not published in clear, not lost
    assert "mpx_relay_awaiting_sealing_key 1.0" in (await hui.http.get("/metrics")).text
    other = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 73))
    haishu = await federation.start(HAISHU)
    await eventually(lambda: in_inbox(haishu, other), what="records to other counties go on meanwhile")
    gerze = await federation.start(GERZE)
    await eventually(lambda: in_inbox(gerze, first), timeout=60, what="the held record, once 542526 published its key")
    assert (await gerze.client.message(first))["data"] == posted["data"]


async def test_a_rotated_sealing_key_is_used_and_records_sealed_to_the_old_one_still_open(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    old = haishu.node.trust.sealing.current(HAISHU)
    await eventually(lambda: hui.node.trust.sealing.current(HAISHU) == old, what="330203's key at 621227")
    # Sealed to the old key, published after the rotation (in flight, or resent): still opens.
    late = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 74)
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=utcnow(), message_id="sealed-to-old")
    headers, value = hui.node.trust.wire(to_headers(envelope), encode_data(late["data"]))

    env = {"DATABASE_URL": haishu.settings.database_url, "MPX_COUNTIES": HAISHU,
           "MPX_PAYLOAD_KEYS": haishu.settings.payload_keys.get_secret_value()}
    rotated = await asyncio.to_thread(CliRunner().invoke, mpx, ["keys", "rotate-sealing", "--county", HAISHU],
                                      env=env)
    assert rotated.exit_code == 0, rotated.output
    assert await haishu.node.trust.reload(haishu.node.key_feed.publish) == 1  # what the node does every 30 s
    new = haishu.node.trust.sealing.current(HAISHU)
    assert new.key_id != old.key_id and new.key_id in rotated.output
    await eventually(lambda: hui.node.trust.sealing.current(HAISHU) == new, what="the new key learned at 621227")

    after = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 75))
    await produce(federation.bootstrap, *haishu.node.topics.address(HAISHU), HAISHU, value, headers)
    await eventually(lambda: in_inbox(haishu, after), what="a record sealed to the new key")
    await eventually(lambda: in_inbox(haishu, "sealed-to-old"), what="a record sealed to the old key")
    assert orjson.loads(value)["kid"] == old.key_id


async def _quarantined_as(node: RunningNode, entry: tuple[str, str]) -> bool:
    return entry in await quarantined(node)


async def _published_everything(*nodes: RunningNode) -> bool:
    from sqlalchemy import func, select

    from exchange.adapters.sql.tables import outbox

    for node in nodes:
        async with node.node.engine.connect() as conn:
            if await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))):
                return False
    return True
