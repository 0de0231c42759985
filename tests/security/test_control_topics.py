"""Attacks on the control topics (keys, agreements, monitoring), written onto the topics the way anyone with
write access to the broker could, on real Kafka. None may stop a feed, change a deadline or an obligation it has
no right to; the genuine records behind them still arrive and the feeds keep flowing."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from contracts import MessageType
from exchange.adapters.crypto.canonical import monitoring_event_bytes
from exchange.adapters.sql.tables import monitor_obligations, quarantine
from exchange.domain.clock import utcnow
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message
from tests.integration.test_trust import produce

pytestmark = pytest.mark.integration
ADMIN = "control-admin-token"


async def _stored_obligation(monitor, message_id: str):  # noqa: ANN001, ANN202
    async with monitor.engine.connect() as conn:
        return (await conn.execute(select(monitor_obligations).where(
            monitor_obligations.c.message_id == message_id))).first()


async def test_a_key_record_with_a_naive_timestamp_does_not_stop_the_key_feed(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    endorser = hui.node.trust.ring.signer(HUI, utcnow()).key_id  # "endorsed" by Hui's real key, time zone missing
    poison = {"key": {"county": HUI, "key_id": "naive", "public": "A" * 43, "not_before": "2026-01-01T00:00:00",
                      "not_after": None}, "endorsed_by": endorser, "endorsement": "A" * 86}
    await produce(federation.bootstrap, haishu.node.topics.keys_topic, 0, f"{HUI}:naive", orjson.dumps(poison),
                  [("content-type", b"application/json")])
    gerze = await federation.start(GERZE)  # a county whose key is published after the poisoned record
    sent = await gerze.client.send(message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 1))
    await eventually(lambda: _in(haishu, sent), what="the record of a county whose key came after the poison")
    assert not any(t.done() for t in haishu.node._tasks if t.get_name() == "keys")
    assert (await haishu.http.get("/readyz")).status_code == 200
    await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2))


async def _in(node, message_id: str) -> bool:  # noqa: ANN001
    return any(item["id"] == message_id for item in await node.client.inbox_all())


async def test_a_malformed_or_foreign_monitoring_event_changes_nothing_and_the_feed_flows(federation: Federation):
    hui = await federation.start(HUI)
    gerze = await federation.start(GERZE)
    haishu = await federation.start(HAISHU)
    client = await federation.start_monitor("all")
    monitor = federation.monitor_nodes[0]
    first = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3))
    genuine = await eventually(lambda: _stored_obligation(monitor, first), what="the genuine obligation")
    topic = haishu.node.topics.monitor_topic
    partition = haishu.node.topics.partition_for(HAISHU)

    # Another county (or anyone on the broker) overwrites Haishu's obligation with a higher revision: answered.
    forged = {**{str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in genuine._mapping.items()},
              "event": "answered", "revision": 99, "answered_at": genuine.received_at.isoformat(),
              "response_working_days": 1}
    await produce(federation.bootstrap, topic, partition, HAISHU, orjson.dumps(forged), [])  # unsigned
    gerze_key = gerze.node.trust.ring.signer(GERZE, utcnow())  # Gêrzê's own node, with its real key
    for body in (forged, {**forged, "receiver": GERZE}):  # as Haishu's event; as its "own" obligation
        signature = gerze_key.sign(monitoring_event_bytes(body))
        await produce(federation.bootstrap, topic, partition, HAISHU, orjson.dumps(body),
                      [("mpx-key-id", gerze_key.key_id.encode()), ("mpx-signature", signature.encode())])
    # A malformed event: fields missing.
    await produce(federation.bootstrap, topic, partition, HAISHU,
                  orjson.dumps({"message_id": "broken", "sender": HUI, "receiver": HAISHU, "revision": 1}), [])

    second = await gerze.client.send(message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 4))
    await eventually(lambda: _stored_obligation(monitor, second), what="a genuine obligation after the poison")
    kept = await _stored_obligation(monitor, first)
    assert kept.revision == genuine.revision and kept.answered_at is None and kept.receiver == HAISHU
    async with monitor.engine.connect() as conn:
        reasons = sorted(r.reason_code for r in await conn.execute(select(quarantine.c.reason_code)))
    assert reasons == ["foreign_obligation", "malformed", "unknown_key", "unsigned"]
    assert (await client.get("/readyz")).status_code == 200


async def test_an_unsigned_agreement_on_the_topic_changes_no_deadline(federation: Federation):
    hui = await federation.start(HUI, admin_token=ADMIN)
    haishu = await federation.start(HAISHU, admin_token=ADMIN)
    rogue = {"id": "rogue", "version": 1, "name": "", "parties": ["330000", "620000"],
             "effective_from": "2020-01-01", "feedback_deadlines": {"outflow_registration": 1}}
    await produce(federation.bootstrap, haishu.node.topics.agreements_topic, 0, "rogue:1", orjson.dumps(rogue),
                  [("content-type", b"application/json")])
    genuine = {"id": "zj-gs", "version": 1, "name": "浙甘协作", "parties": ["330000", "620000"],
               "effective_from": "2020-01-01", "feedback_deadlines": {"birth": 10}}
    response = await hui.http.post("/v1/agreements", json=genuine, headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 202, response.text
    await eventually(lambda: haishu.node.agreements.get("zj-gs") is not None, what="the signed agreement")
    assert haishu.node.agreements.get("rogue") is None and hui.node.agreements.get("rogue") is None


async def test_a_feed_that_stopped_anyway_makes_readyz_fail_naming_it(federation: Federation):
    haishu = await federation.start(HAISHU)
    client = await federation.start_monitor("all")
    monitor = federation.monitor_nodes[0]
    assert (await haishu.http.get("/readyz")).status_code == 200
    await eventually(lambda: monitor.stopped() == [] and monitor.key_feed is not None, what="the monitor's feeds")
    assert (await client.get("/readyz")).status_code == 200
    [agreements] = await eventually(lambda: [t for t in haishu.node._tasks if t.get_name() == "agreements"],
                                    what="the agreements feed running")
    agreements.cancel()  # as if it had died
    await eventually(agreements.done, what="the agreements feed stopped")
    answer = await haishu.http.get("/readyz")
    assert answer.status_code == 503 and answer.json()["stopped"] == ["agreements"]
    monitor._task.cancel()
    await eventually(monitor._task.done, what="the monitor feed stopped")
    answer = await client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["stopped"] == ["monitor-feed"]
