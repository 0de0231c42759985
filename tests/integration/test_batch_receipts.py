"""Delivery receipts by the batch (批量送达回执), on real Kafka and PostgreSQL: 徽县 (621227) sends 海曙区 (330203) 200
outflow registrations; 海曙区's node acknowledges what it stored with one signed receipt per consumer batch, far fewer
receipts on the topic than records, and every record is `delivered` at 徽县, its thread showing it.

Before 海曙区's node is up, 改则县 (542526), a genuine node with its own key, publishes a batch receipt naming all 200
and carrying a chain head in the name of 海曙区's node: it is quarantined (``not_counterpart``), moves nothing, and
plants no head among the peer heads 徽县 keeps.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from contracts import MessageType
from exchange.adapters.sql.tables import messages, peer_chain_heads
from exchange.domain.clock import utcnow
from tests.integration.conftest import Federation, RunningNode, eventually, federation, in_inbox  # noqa: F401
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message
from tests.integration.test_trust import header, topic_records
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration

RECORDS = 200


@pytest.fixture
def database_kind() -> str:
    return "postgresql"


async def delivered(node: RunningNode) -> int:
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(messages).where(
            messages.c.direction == "out", messages.c.state == "delivered"))


async def heads_of(node: RunningNode, node_id: str) -> list[tuple[int, str]]:
    async with node.node.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(select(peer_chain_heads.c.seq, peer_chain_heads.c.hash).where(
            peer_chain_heads.c.node_id == node_id))]


async def test_two_hundred_records_are_acknowledged_by_a_few_receipts_and_a_third_county_acknowledges_none(
        federation: Federation):
    hui = await federation.start(HUI)
    gerze = await federation.start(GERZE)
    sent = await hui.client.send_batch([message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed)
                                        for seed in range(RECORDS)])
    haishu_node = f"{federation.prefix}-{HAISHU}"  # the id 海曙区's node will have

    # 改则县 claims to have stored all 200 as 海曙区's node, with a head of that node's chain.
    forged = await forge(gerze, MessageType.DELIVERY_RECEIPTS, sender=GERZE, receiver=HUI, data={
        "received_at": utcnow().isoformat(), "receiver_node_id": haishu_node, "ids": sent,
        "chain_head": {"seq": 1, "hash": "0" * 64}})
    marker = await gerze.client.send(message(MessageType.PREGNANCY_CHECK, GERZE, HUI, 7))
    await eventually(lambda: in_inbox(hui, marker), what="改则县's genuine record behind the forged receipt")
    assert await quarantined(hui) == [("not_counterpart", forged)]
    assert await delivered(hui) == 0 and await heads_of(hui, haishu_node) == []

    haishu = await federation.start(HAISHU)
    await eventually(lambda: _at_least(delivered(hui), RECORDS), timeout=120, what="all 200 delivered at 徽县")

    topic, partition = hui.node.topics.address(HUI)
    types = [header(r.headers, "ce_type") for r in await topic_records(federation.bootstrap, topic, partition)]
    receipts = types.count("cn.mpx.delivery_receipts")
    print(f"\n[batch receipts] {RECORDS} records delivered by {receipts} receipts on {topic}/{partition}")
    assert 1 <= receipts <= RECORDS // 10 and "cn.mpx.delivery_receipt" not in types
    view = await hui.client.message(sent[-1])
    assert view["state"] == "delivered" and "delivered" in [step["kind"] for step in view["thread"]]
    heads = await heads_of(hui, haishu_node)
    assert heads and (1, "0" * 64) not in heads  # the genuine node's heads, not the forged one
    assert await quarantined(hui) == [("not_counterpart", forged)]
    assert len(await haishu.client.inbox_all()) == RECORDS


async def _at_least(count, expected: int) -> bool:  # noqa: ANN001 - an awaitable count
    return await count >= expected
