"""Replies only from the counterpart: a third county's node cannot acknowledge, answer or ask again for a
message between two other counties, on real Kafka, on SQLite and on PostgreSQL.

The forger is a real node of the federation (改则县, Tibet), with its own genuine signing key: everything it
publishes verifies. What it cannot do is speak for 海曙区, the county the message went to. Its receipt, batch
receipt, feedback and amendment about 徽县's record to 海曙区 are quarantined (``not_counterpart``) and dead-lettered,
never shown; its resend request gets it nothing. The genuine receipt and feedback still arrive afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from contracts import MessageType
from exchange.adapters.sql.tables import quarantine
from exchange.domain.clock import utcnow
from exchange.domain.events import MessageSent
from exchange.domain.message import Outgoing, new_envelope
from tests.integration.conftest import Federation, RunningNode, database_kind, eventually, federation, in_inbox  # noqa: F401
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message
from tests.integration.test_trust import header, topic_records

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "counterpart-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def forge(node: RunningNode, message_type: MessageType, *, sender: str, receiver: str, data: dict[str, Any],
                in_reply_to: str | None = None) -> str:
    """What the operator of a county's node can do: sign any record as its own county and publish it through
    its own outbox, like every record it sends. Returns the record's id."""
    now = utcnow()
    envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=sender, receiver=receiver,
                            now=now, message_id=f"forged-{uuid.uuid4()}", in_reply_to=in_reply_to)
    async with node.node.uow() as uow:
        uow.record(MessageSent(Outgoing(envelope, data, "")))
    node.node.relay.wake()
    return envelope.id


async def quarantined(node: RunningNode) -> list[tuple[str, str | None]]:
    async with node.node.engine.connect() as conn:
        rows = await conn.execute(select(quarantine.c.reason_code, quarantine.c.message_id).order_by(quarantine.c.seq))
        return [(r.reason_code, r.message_id) for r in rows]


async def dead_letters(fed: Federation, node: RunningNode, county: str) -> list[tuple[str | None, str | None]]:
    """(reason code, record id) of the dead letters on the topic, as any reader of it sees them."""
    topic, partition = node.node.topics.deadletter_topic, node.node.topics.partition_for(county)
    return [(header(r.headers, "mpx_dlq_reason_code"), header(r.headers, "ce_id"))
            for r in await topic_records(fed.bootstrap, topic, partition)]


async def test_a_third_countys_node_cannot_acknowledge_answer_or_recall_a_message_between_two_others(
        federation: Federation):
    hui = await federation.start(HUI, admin_token=ADMIN_TOKEN)
    gerze = await federation.start(GERZE)
    # 徽县 sends 海曙区 an outflow registration; 海曙区's node is not up yet, so nothing genuine answers it (and the
    # record waits in 徽县's outbox until 海曙区 publishes its sealing key).
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1)
    sent = await hui.client.send(posted)

    # 改则县's node claims the record was delivered, answers it, amends the answer, and asks for it again.
    receipt = await forge(gerze, MessageType.DELIVERY_RECEIPT, sender=GERZE, receiver=HUI, in_reply_to=sent,
                          data={"received_at": utcnow().isoformat(), "receiver_node_id": gerze.settings.node_id})
    receipts = await forge(gerze, MessageType.DELIVERY_RECEIPTS, sender=GERZE, receiver=HUI,
                           data={"received_at": utcnow().isoformat(), "receiver_node_id": gerze.settings.node_id,
                                 "ids": [sent], "chain_head": {"seq": 1, "hash": "0" * 64}})
    answer = await forge(gerze, MessageType.FEEDBACK, sender=GERZE, receiver=HUI, in_reply_to=sent,
                         data=feedback("not_found", reason="查无此人"))
    amendment = await forge(gerze, MessageType.FEEDBACK, sender=GERZE, receiver=HUI, in_reply_to=sent,
                            data=feedback("confirmed"))
    today = utcnow().date().isoformat()
    await forge(gerze, MessageType.RESEND_REQUEST, sender=GERZE, receiver=HUI,
                data={"digest_id": f"forged-{uuid.uuid4()}", "day": today, "ids": [sent]})
    # A genuine record from 改则县 to 徽县 behind them: once it is in the inbox, all of them were read.
    marker = await gerze.client.send(message(MessageType.PREGNANCY_CHECK, GERZE, HUI, 2))
    await eventually(lambda: in_inbox(hui, marker), what="改则县's genuine record behind the forged ones")

    view = await hui.client.message(sent)
    assert (view["state"], view["delivered_at"], view["answered_at"]) == ("accepted", None, None), \
        "a third county's receipt or feedback moved the message forward"
    assert view["feedback"] == [], "a third county's feedback is shown as the answer"
    assert [item["id"] for item in await hui.client.inbox_all()] == [marker]
    forged_replies = sorted([("not_counterpart", receipt), ("not_counterpart", receipts),
                             ("not_counterpart", answer), ("not_counterpart", amendment)])
    assert sorted(await quarantined(hui)) == forged_replies
    await eventually(lambda: _contains(dead_letters(federation, hui, HUI), forged_replies),
                     what="the forged replies on the dead-letter topic")
    # An admin replaying one gets the same refusal.
    seq = next(item["seq"] for item in (await hui.http.get("/v1/quarantine", headers=ADMIN)).json()["items"]
               if item["message_id"] == answer)
    replayed = await hui.http.post(f"/v1/quarantine/{seq}/replay", headers=ADMIN)
    assert replayed.status_code == 422 and "not_counterpart" in replayed.json()["detail"], replayed.text
    assert (await hui.client.message(sent))["feedback"] == []
    # The resend request asked 徽县 for a record it never sent 改则县: nothing goes to Tibet's topic.
    tibet, partition = hui.node.topics.address(GERZE)
    assert sent not in [header(r.headers, "ce_id") for r in await topic_records(federation.bootstrap, tibet, partition)]
    served = [i for i in (await hui.http.get("/v1/reconciliation")).json()["items"] if i["kind"] == "resend_served"]
    assert [(i["peer"], i["count"], i["missing"]) for i in served] == [(GERZE, 0, 1)]

    # The genuine receipt and feedback still arrive, and only they are shown.
    haishu = await federation.start(HAISHU)
    await eventually(lambda: _state(hui, sent, "delivered"), what="the genuine delivery receipt")
    genuine = await haishu.client.answer(sent, feedback("confirmed"))
    view = await eventually(lambda: _state(hui, sent, "answered"), what="the genuine feedback")
    assert [(f["id"], f["sender"], f["data"]["status"]) for f in view["feedback"]] == [(genuine, HAISHU, "confirmed")]
    assert sorted(await quarantined(hui)) == forged_replies
    received = await haishu.client.message(sent)
    assert received["data"]["person"] == posted["data"]["person"] and received["obligation"]["answered_at"]


async def _state(node: RunningNode, message_id: str, state: str) -> dict[str, Any] | None:
    view = await node.client.message(message_id)
    return view if view["state"] == state else None


async def _contains(found, expected: list) -> bool:  # noqa: ANN001 - an awaitable list
    return set(expected) <= set(await found)
