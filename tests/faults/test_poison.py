"""Poison records written straight to a topic land in quarantine and on the dead-letter topic, with the reason
in its headers; the records behind them are delivered; an admin replays one after the fix."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, insert, select

from contracts import MessageType, OutflowRegistration
from contracts.cloudevents import encode_data, to_headers
from contracts.registry import PAYLOAD_MODELS, SCHEMA_VERSIONS
from exchange.adapters.sql.tables import outbox
from exchange.domain.clock import utcnow
from exchange.domain.message import new_envelope, receipts_id
from tests.faults.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    HAISHU,
    HUI,
    header,
    outflow,
    partition_of,
    topic_records,
    wait_until,
)

pytestmark = pytest.mark.integration

GERZE = "542526"


def cloudevent(message_id: str, data: dict, *, receiver: str = HAISHU, version: str = "1.0") -> list[tuple[str, bytes]]:
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=HUI,
                            receiver=receiver, now=utcnow(), message_id=message_id)
    headers = to_headers(envelope)
    if version != "1.0":  # as a newer sender would write it
        headers = [(k, version.encode() if k == "ce_schemaversion" else
                    f"urn:mpx:schema:outflow_registration:{version}".encode() if k == "ce_dataschema" else v)
                   for k, v in headers]
    return headers


async def test_poison_records_are_set_aside_and_the_partition_keeps_flowing(sqlite_federation, kafka_bootstrap,
                                                                             monkeypatch):
    fed = sqlite_federation
    hui = await fed.start(HUI, reconcile_at="", admin_token=ADMIN_TOKEN)
    haishu = await fed.start(HAISHU, reconcile_at="", admin_token=ADMIN_TOKEN)
    topic, partition = f"{fed.prefix}.records.33", partition_of(HAISHU)

    async def sealing_key_known():
        return hui.node.trust.sealing.current(HAISHU)

    await wait_until(sealing_key_known, timeout=30, what="330203's sealing key at 621227")
    good = outflow(1, "poison-valid-1")["data"]
    bad_id = {**good, "person": {**good["person"], "id_number": good["person"]["id_number"][:17] +
                                 ("0" if good["person"]["id_number"][17] != "0" else "1")}}
    poison = {
        "garbage": (None, b"\x00\xffnot json at all"),
        "contract": (cloudevent("poison-contract", bad_id), encode_data(bad_id)),
        "misaddressed": (cloudevent("poison-misaddressed", good, receiver=GERZE), encode_data(good)),
        "newer-version": (cloudevent("poison-v11", good, version="1.1"), encode_data(good)),
    }
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    on_topic = []  # the values as they went on the topic
    try:
        for headers, value in poison.values():
            if headers:  # sealed and signed as Hui County's node would: they are poison for other reasons
                if dict(headers)["ce_receiverregion"] == HAISHU.encode():
                    headers, value = hui.node.trust.wire(headers, value)
                else:  # misaddressed: refused before it is opened
                    headers = hui.node.trust.signed_headers(headers, value)
            await producer.send_and_wait(topic, value, key=HAISHU.encode(), partition=partition, headers=headers)
            on_topic.append(value)
    finally:
        await producer.stop()
    behind = [await hui.client.send(outflow(10 + n, f"poison-behind-{n}")) for n in range(3)]

    async def all_behind_delivered():
        return {i["id"] for i in await haishu.client.inbox_all()} >= set(behind)

    await wait_until(all_behind_delivered, timeout=60, what="the records behind the poison at 330203")

    listing = (await haishu.http.get("/v1/quarantine", headers=ADMIN)).json()["items"]
    assert [q["reason_code"] for q in listing] == ["undecodable", "contract_violation", "misaddressed", "undecodable"]
    assert all(set(q) == {"seq", "reason_code", "reason", "topic", "partition", "offset", "message_id",
                          "received_at", "replayed_at", "replay_result"} for q in listing)  # no payload, no headers
    assert "unknown_schema_version" in listing[3]["reason"] and listing[3]["message_id"] == "poison-v11"
    raw = orjson.dumps(listing).decode()
    assert good["person"]["id_number"] not in raw and good["person"]["name"] not in raw

    async def dead_letters():
        records = await topic_records(kafka_bootstrap, f"{fed.prefix}.deadletter", partition)
        return records if len(records) >= 4 else None

    dlq = await wait_until(dead_letters, timeout=60, what="4 records on the dead-letter topic")
    assert [header(r, "mpx_dlq_reason_code") for r in dlq] == [q["reason_code"] for q in listing]
    assert [int(header(r, "mpx_dlq_offset")) for r in dlq] == [q["offset"] for q in listing]
    # Dead letters stay sealed: as they came when sealed to 330203, else sealed to 330203's own key.
    own_key = haishu.node.trust.sealing.current(HAISHU).key_id
    for record, value in zip(dlq, on_topic):
        came_sealed = value.startswith(b'{"mpx_sealed"')
        assert record.value == value if came_sealed else orjson.loads(record.value)["kid"] == own_key
    assert not any(good["person"]["id_number"].encode() in r.value for r in dlq)

    # Replaying is an admin operation.
    newer = listing[3]["seq"]
    assert (await haishu.http.post(f"/v1/quarantine/{newer}/replay")).status_code in (401, 403)
    # Still unknown: rejected again, and it says why.
    again = await haishu.http.post(f"/v1/quarantine/{newer}/replay", headers=ADMIN)
    assert again.status_code == 422 and again.json()["type"] == "urn:mpx:problem:replay_rejected"
    # The fix: this node learns payload version 1.1 (here: the same model), then the admin replays the record.
    monkeypatch.setitem(SCHEMA_VERSIONS, MessageType.OUTFLOW_REGISTRATION, frozenset({"1.0", "1.1"}))
    monkeypatch.setitem(PAYLOAD_MODELS, (MessageType.OUTFLOW_REGISTRATION, "1.1"), OutflowRegistration)
    replayed = await haishu.http.post(f"/v1/quarantine/{newer}/replay",
                                      headers=ADMIN)
    assert replayed.status_code == 200 and replayed.json()["result"] == "stored", replayed.text
    assert (await haishu.client.message("poison-v11"))["direction"] == "in"
    twice = await haishu.http.post(f"/v1/quarantine/{newer}/replay", headers=ADMIN)
    assert twice.json()["result"] == "duplicate"
    garbage = await haishu.http.post(f"/v1/quarantine/{listing[0]['seq']}/replay",
                                     headers=ADMIN)
    assert garbage.status_code == 422
    missing = await haishu.http.post("/v1/quarantine/999999/replay", headers=ADMIN)
    assert missing.status_code == 404
    receipt = receipts_id(HUI, ["poison-v11"])  # acknowledged on its own
    await wait_until(lambda: _published(haishu, receipt), timeout=60, what="the receipt of the replayed record")

    after = (await haishu.http.get("/v1/quarantine", headers=ADMIN)).json()["items"]
    print(f"\n[poison] written straight to {topic}/{partition}: {len(poison)} poison records "
          f"({', '.join(poison)}), then {len(behind)} valid ones; quarantined {len(listing)} "
          f"({', '.join(q['reason_code'] for q in listing)}); on the dead-letter topic {len(dlq)}; valid records "
          f"behind them delivered {len(behind)}/{len(behind)}; replayed after the fix: "
          f"{[(q['message_id'], q['replay_result']) for q in after if q['replay_result']]}")


async def _published(node, message_id: str) -> bool:  # noqa: ANN001
    async with node.node.engine.connect() as conn:
        return bool(await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.message_id == message_id, outbox.c.published_at.is_not(None))))


async def test_a_record_the_database_refuses_is_set_aside_and_the_partition_keeps_flowing(sqlite_federation):
    fed = sqlite_federation
    hui = await fed.start(HUI, reconcile_at="", admin_token=ADMIN_TOKEN)
    haishu = await fed.start(HAISHU, reconcile_at="", admin_token=ADMIN_TOKEN)
    # Behind the node's back, a row that makes storing one record fail (unique id per direction), every time.
    from exchange.adapters.sql.tables import messages

    async with haishu.node.engine.begin() as conn:
        await conn.execute(insert(messages).values(
            id="refused-1", direction="in", type="outflow_registration", schema_version="1.0", sender=HUI,
            receiver=HAISHU, state="delivered", envelope="{}", payload="{}", content_hash="", created_at=utcnow()))
    ids = await hui.client.send_batch([outflow(n, f"refused-{n}") for n in range(1, 6)])

    async def the_others_arrived():
        return {i["id"] for i in await haishu.client.inbox_all()} >= set(ids[1:])

    await wait_until(the_others_arrived, timeout=60, what="the records around the refused one")
    listing = (await haishu.http.get("/v1/quarantine", headers=ADMIN)).json()["items"]
    assert [(q["reason_code"], q["message_id"]) for q in listing] == [("unstorable", "refused-1")]
    print(f"\n[unstorable] 5 records, the database refuses 1: quarantined {len(listing)} "
          f"({listing[0]['reason']}), the other {len(ids) - 1} delivered")
