"""Signed records and payloads at rest, on real Kafka, on SQLite and on PostgreSQL.

Records are written straight onto the topics the way an intruder with access to
the broker would: altered copies of real records, unsigned records, records
signed with another county's key or a key of the intruder's own. None of them
reaches an inbox; each lands in quarantine with its reason. A rotated key is
learned from the keys topic, and what the old key signed during the overlap
still verifies. No name or ID number is stored in clear.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import select
from typer.testing import CliRunner

from contracts import MessageType
from contracts.cloudevents import encode_data, envelope_attributes, to_headers
from exchange.adapters.crypto.canonical import message_bytes
from exchange.adapters.crypto.key_records import KeyRecord
from exchange.adapters.crypto.payload_crypto import PayloadCipher, new_key
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.sql.tables import county_public_keys, messages, outbox, quarantine
from exchange.domain.clock import utcnow
from exchange.domain.message import new_envelope
from exchange.entrypoints.cli import app as mpx
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message

pytestmark = pytest.mark.integration


# -- writing to and reading from the topics behind the nodes' backs ------------------------------------------


def records_topic(fed: Federation, node: RunningNode, county: str) -> tuple[str, int]:
    return node.node.topics.address(county)


async def topic_records(bootstrap: str, topic: str, partition: int) -> list[Any]:
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while await consumer.position(tp) < end and time.monotonic() < deadline:
            records += (await consumer.getmany(tp, timeout_ms=500)).get(tp, [])
        return records
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, partition: int, key: str, value: bytes,
                  headers: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode(), partition=partition, headers=headers)
    finally:
        await producer.stop()


def header(headers, name: str) -> str | None:  # noqa: ANN001
    return next((v.decode() for k, v in headers if k == name), None)


def forged(data: dict, *, sender: str = HUI, receiver: str = HAISHU, key: SigningKey | None = None,
           key_id: str | None = None, message_id: str | None = None,
           sealed_for: RunningNode | None = None) -> tuple[list[tuple[str, bytes]], bytes]:
    """A record as a node would write it: sealed to the receiver's key (as `sealed_for` knows it) or in clear;
    signed with `key` (announced as `key_id`), or unsigned."""
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=sender,
                            receiver=receiver, now=utcnow(), message_id=message_id or f"forged-{uuid.uuid4()}")
    headers = to_headers(envelope)
    if sealed_for is not None:
        data = sealed_for.node.trust.sealing.current(receiver).seal(encode_data(data), envelope_attributes(headers))
    if key is not None:
        signature = key.sign(message_bytes(envelope_attributes(headers), data))
        headers += [("mpx-key-id", (key_id or key.key_id).encode()), ("mpx-signature", signature.encode())]
    return headers, encode_data(data)


async def quarantined(node: RunningNode) -> list[tuple[str, str | None]]:
    async with node.node.engine.connect() as conn:
        rows = await conn.execute(select(quarantine.c.reason_code, quarantine.c.message_id).order_by(quarantine.c.seq))
        return [(r.reason_code, r.message_id) for r in rows]


async def inbox_ids(node: RunningNode) -> list[str]:
    return [item["id"] for item in await node.client.inbox_all()]


async def behind(fed: Federation, sender: RunningNode, receiver: RunningNode, seed: int) -> str:
    """A genuine record sent after the forged ones: once it is in the inbox, everything before it was read."""
    county_from, county_to = sender.settings.counties[0], receiver.settings.counties[0]
    sent = await sender.client.send(message(MessageType.OUTFLOW_REGISTRATION, county_from, county_to, seed))
    await eventually(lambda: _in(receiver, sent), what=f"record {sent} behind the forged ones")
    return sent


async def _in(node: RunningNode, message_id: str) -> bool:
    return message_id in await inbox_ids(node)


def signing_key(node: RunningNode, county: str) -> SigningKey:
    return node.node.trust.ring.signer(county, utcnow())


# -- the scenarios --------------------------------------------------------------------------------------------


async def test_a_record_altered_on_the_topic_is_quarantined_and_never_delivered(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1)
    sent = await hui.client.send(posted)
    await eventually(lambda: _in(haishu, sent), what="the genuine record at 330203")

    topic, partition = records_topic(federation, haishu, HAISHU)
    [original] = [r for r in await topic_records(federation.bootstrap, topic, partition)
                  if header(r.headers, "ce_id") == sent]
    assert header(original.headers, "mpx-key-id") == signing_key(hui, HUI).key_id
    # The value is ciphertext (sealed to 330203): no personal field in clear. One byte of it changed:
    person = posted["data"]["person"]
    assert person["id_number"].encode() not in original.value and person["name"].encode() not in original.value
    position = original.value.index(b'"ct":"') + 20
    value = bytearray(original.value)
    value[position] = ord("A") if value[position] != ord("A") else ord("B")
    # One header: the same record again under a new id.
    new_id = f"replayed-{uuid.uuid4()}"
    renamed = [(k, new_id.encode() if k == "ce_id" else v) for k, v in original.headers]
    await produce(federation.bootstrap, topic, partition, HAISHU, bytes(value), list(original.headers))
    await produce(federation.bootstrap, topic, partition, HAISHU, original.value, renamed)
    marker = await behind(federation, hui, haishu, 2)

    assert await quarantined(haishu) == [("bad_signature", sent), ("bad_signature", new_id)]
    assert await inbox_ids(haishu) == [sent, marker]
    stored = await haishu.client.message(sent)
    assert stored["data"]["outflow_date"] == posted["data"]["outflow_date"]  # the genuine copy, untouched
    assert (await haishu.http.get(f"/v1/messages/{new_id}")).status_code == 404


async def test_an_unsigned_record_is_quarantined(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    data = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3)["data"]  # a record valid in every other way
    headers, value = forged(data)
    topic, partition = records_topic(federation, haishu, HAISHU)
    await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    marker = await behind(federation, hui, haishu, 4)

    assert await quarantined(haishu) == [("unsigned", header(headers, "ce_id"))]
    assert await inbox_ids(haishu) == [marker]
    listing = (await haishu.http.get("/v1/quarantine")).json()["items"]
    assert listing[0]["reason_code"] == "unsigned"


async def test_a_record_signed_by_another_county_or_an_intruder_is_refused(federation: Federation):
    hui = await federation.start(HUI)
    gerze = await federation.start(GERZE)
    haishu = await federation.start(HAISHU)
    topic, partition = records_topic(federation, haishu, HAISHU)
    data = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 5)["data"]
    gerze_key, hui_key = signing_key(gerze, GERZE), signing_key(hui, HUI)
    # An intruder's own key for Hui County, put on the keys topic as if Hui's node had published it.
    intruder = SigningKey.generate(HUI, f"{HUI}-intruder", utcnow() - timedelta(minutes=1))
    record = KeyRecord.endorse(intruder.public_key(), intruder)
    await produce(federation.bootstrap, haishu.node.topics.keys_topic, 0, record.kafka_key, record.to_bytes(),
                  [("content-type", b"application/json")])

    attempts = {
        "Gêrzê's key, claiming to be Hui": forged(data, key=gerze_key),
        "Gêrzê's signature under Hui's key id": forged(data, key=gerze_key, key_id=hui_key.key_id),
        "the intruder's key": forged(data, key=intruder),
    }
    for headers, value in attempts.values():
        await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    genuine = await gerze.client.send(message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 6))
    marker = await behind(federation, hui, haishu, 7)
    await eventually(lambda: _in(haishu, genuine), what="Gêrzê's own record")

    ids = [header(h, "ce_id") for h, _ in attempts.values()]
    # The slipped-in key record itself is set aside too (a new key of a known county must be endorsed by it).
    assert await quarantined(haishu) == [("not_endorsed", None), ("unknown_key", ids[0]), ("bad_signature", ids[1]),
                                         ("unknown_key", ids[2])]
    assert sorted(await inbox_ids(haishu)) == sorted([genuine, marker])
    assert (HUI, intruder.key_id) not in haishu.node.trust.ring.public  # the slipped-in key is not believed


async def test_a_rotated_key_is_learned_and_the_old_key_verifies_during_the_overlap(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU, clock_skew_seconds=2)  # clocks this close: a key's end is sharp
    first = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 8))
    await eventually(lambda: _in(haishu, first), what="a record signed with the first key")
    old = signing_key(hui, HUI)

    env = {"DATABASE_URL": hui.settings.database_url, "MPX_COUNTIES": HUI,
           "MPX_PAYLOAD_KEYS": hui.settings.payload_keys.get_secret_value()}
    rotated = await asyncio.to_thread(CliRunner().invoke, mpx,
                                      ["keys", "rotate-signing", "--county", HUI, "--overlap-days", "7"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert await hui.node.trust.reload(hui.node.key_feed.publish) == 2  # what the node does every 30 s
    new = signing_key(hui, HUI)
    assert new.key_id != old.key_id and new.key_id in rotated.output

    second = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 9))
    await eventually(lambda: _in(haishu, second), what="a record signed with the new key")
    topic, partition = records_topic(federation, haishu, HAISHU)
    on_topic = {header(r.headers, "ce_id"): header(r.headers, "mpx-key-id")
                for r in await topic_records(federation.bootstrap, topic, partition)}
    assert (on_topic[first], on_topic[second]) == (old.key_id, new.key_id)
    learned = haishu.node.trust.ring.public[(HUI, old.key_id)]
    assert learned.not_after is not None and learned.not_after > utcnow() + timedelta(days=6)

    # Signed with the old key during the overlap (accepted before the switch, published after): delivered.
    data = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 10)["data"]
    headers, value = forged(data, key=old, sealed_for=haishu)
    await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    await eventually(lambda: _in(haishu, header(headers, "ce_id")), what="the old key's record in the overlap")

    # A second rotation with no overlap: the key it replaces no longer signs anything made after it.
    again = await asyncio.to_thread(CliRunner().invoke, mpx,
                                    ["keys", "rotate-signing", "--county", HUI, "--overlap-days", "0"], env=env)
    assert again.exit_code == 0, again.output
    await hui.node.trust.reload(hui.node.key_feed.publish)
    await eventually(lambda: haishu.node.trust.ring.public[(HUI, new.key_id)].not_after is not None,
                     what="the end of the second key at 330203")
    await asyncio.sleep(2.5)  # past the skew after the second key's end
    late_headers, late_value = forged(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 11)["data"], key=new,
                                      sealed_for=haishu)
    await produce(federation.bootstrap, topic, partition, HAISHU, late_value, late_headers)
    third = await behind(federation, hui, haishu, 12)

    assert await quarantined(haishu) == [("key_not_valid", header(late_headers, "ce_id"))]
    assert header(late_headers, "ce_id") not in await inbox_ids(haishu)
    assert signing_key(hui, HUI).key_id not in (old.key_id, new.key_id)
    assert third in await inbox_ids(haishu)


async def test_payloads_are_sealed_at_rest_and_read_back_in_clear(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 13)
    person = posted["data"]["person"]
    secrets = [person["name"].encode(), person["id_number"].encode()]
    sent = await hui.client.send(posted)
    await eventually(lambda: _state(hui, sent, "delivered"), what="the record delivered")
    # An unsigned copy, to have a quarantined record holding personal data too.
    headers, value = forged(posted["data"])
    topic, partition = records_topic(federation, haishu, HAISHU)
    await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    await behind(federation, hui, haishu, 14)

    raw = {
        "sender messages.payload": await _column(hui, messages.c.payload, messages.c.id == sent),
        "sender outbox.value": await _column(hui, outbox.c.value, outbox.c.message_id == sent),
        "receiver messages.payload": await _column(haishu, messages.c.payload, messages.c.id == sent),
        "receiver quarantine.value": await _column(haishu, quarantine.c.value),
    }
    for where, stored in raw.items():
        stored = stored.encode() if isinstance(stored, str) else stored
        assert stored.startswith(b"enc:t1:"), where
        assert not any(s in stored for s in secrets), f"{where} holds personal data in clear"
    for node in (hui, haishu):
        assert (await node.client.message(sent))["data"]["person"] == person

    # Rotation: a new payload key first in the setting, then `mpx reseal`; the old key can go afterwards.
    old_setting = hui.settings.payload_keys.get_secret_value()
    new_setting = f"t2:{new_key()},{old_setting}"
    resealed = await asyncio.to_thread(CliRunner().invoke, mpx, ["reseal"], env={
        "DATABASE_URL": hui.settings.database_url, "MPX_COUNTIES": HUI, "MPX_PAYLOAD_KEYS": new_setting})
    assert resealed.exit_code == 0, resealed.output
    hui.node.trust.cipher = PayloadCipher.from_setting(new_setting.split(",")[0])  # restarted with the new key only
    assert (await _column(hui, messages.c.payload, messages.c.id == sent)).startswith("enc:t2:")
    assert (await hui.client.message(sent))["data"]["person"] == person


async def _state(node: RunningNode, message_id: str, state: str) -> bool:
    return (await node.client.message(message_id))["state"] == state


async def _column(node: RunningNode, column, *where) -> Any:  # noqa: ANN001
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(column).where(*where).limit(1))


async def test_an_http_worker_signs_only_with_keys_the_keys_topic_carries(federation: Federation):
    """A node split into processes: the background process publishes a rotated key, the HTTP workers sign with it
    only then. A worker that took the new key from the database at once would sign lifecycle events the monitor
    and the receivers cannot verify yet."""
    hui = await federation.start(HUI)
    old = signing_key(hui, HUI)

    async def published() -> set[str]:
        async with hui.node.engine.connect() as conn:
            return set(await conn.scalars(select(county_public_keys.c.key_id)
                                          .where(county_public_keys.c.county == HUI)))

    await eventually(lambda: _contains(published(), old.key_id), what="the first key on the keys topic")
    env = {"DATABASE_URL": hui.settings.database_url, "MPX_COUNTIES": HUI,
           "MPX_PAYLOAD_KEYS": hui.settings.payload_keys.get_secret_value()}
    rotated = await asyncio.to_thread(CliRunner().invoke, mpx,
                                      ["keys", "rotate-signing", "--county", HUI, "--overlap-days", "7"], env=env)
    assert rotated.exit_code == 0, rotated.output

    worker = Trust(hui.node.engine, hui.node.trust.cipher, [HUI])
    await worker.start(publishes=False)  # an HTTP worker starting between the rotation and its publication
    assert worker.ring.signer(HUI, utcnow()).key_id == old.key_id
    assert not await worker.follow()

    await hui.node.trust.reload(hui.node.key_feed.publish)  # what the background process does every 30 s
    assert await worker.follow()
    new = worker.ring.signer(HUI, utcnow())
    assert new.key_id != old.key_id and new.key_id in rotated.output
    assert new.key_id == signing_key(hui, HUI).key_id


async def _contains(found: Awaitable[set[str]], item: str) -> bool:
    return item in await found
