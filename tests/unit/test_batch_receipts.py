"""Delivery receipts by the batch (批量送达回执): a receiving node acknowledges the records of one sending county it
stored in one consumer batch with one signed receipt, and the sender moves exactly those records to `delivered`.

Building receipts is a pure rule (exchange.domain.message.receipts_for). Answering and accepting them is the real
Inbound service on SQLite (as in test_inbound_batches.py): 海曙区 (330203) receives records from 徽县 (621227) and
acknowledges them; and 海曙区, as the sender of records to 徽县, accepts 徽县's receipts, batch or single (a node
before batch receipts), and never one from a third county, 改则县 (542526), about records it did not receive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select

from contracts import MessageType, validate_payload
from contracts.cloudevents import encode_data
from contracts.examples import example_payload
from contracts.payloads import MAX_IDS
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.sql.tables import audit_log, inbox, messages, outbox, peer_chain_heads, quarantine
from exchange.adapters.unit_of_work import SqlUnitOfWork
from exchange.domain.clock import utcnow
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.message import Outgoing, new_envelope, receipts_for
from tests.unit.test_inbound_batches import HAISHU, HUI, T0, Wire, haishu, left_for_haishu  # noqa: F401 - fixture

GERZE = "542526"
GERZE_KEY = SigningKey.generate(GERZE, "gerze-1", T0)
HEAD = {"seq": 41, "hash": "a" * 64}
NOW = datetime(2026, 2, 10, 8, 30, tzinfo=UTC)


def received(sender: str, receiver: str, message_id: str):  # noqa: ANN201 - an Envelope
    return new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender=sender,
                        receiver=receiver, now=NOW - timedelta(seconds=1), message_id=message_id)


# -- building them (pure) ---------------------------------------------------------------------------------------

def test_the_records_of_a_batch_are_acknowledged_by_one_receipt_per_sending_county():
    stored = [received(HUI, HAISHU, "hui-1"), received(GERZE, HAISHU, "gerze-1"), received(HUI, HAISHU, "hui-2"),
              received(HUI, HAISHU, "hui-3")]

    receipts = receipts_for(stored, "node-haishu", NOW, HEAD)

    assert [(r.envelope.senderregion, r.envelope.receiverregion, r.data["ids"]) for r in receipts] == [
        (HAISHU, HUI, ["hui-1", "hui-2", "hui-3"]), (HAISHU, GERZE, ["gerze-1"])]
    for receipt in receipts:
        assert receipt.envelope.message_type is MessageType.DELIVERY_RECEIPTS and receipt.envelope.inreplyto is None
        assert validate_payload(MessageType.DELIVERY_RECEIPTS, receipt.envelope.schemaversion, receipt.data)
        assert receipt.data["chain_head"] == HEAD and receipt.data["receiver_node_id"] == "node-haishu"


def test_a_batch_too_long_for_one_record_is_acknowledged_in_parts_each_far_below_kafkas_limit():
    ids = [f"hui-2026-{n:012d}-{'x' * 40}" for n in range(2 * MAX_IDS + 1)]  # long ids: the largest parts

    receipts = receipts_for([received(HUI, HAISHU, i) for i in ids], "node-haishu", NOW, HEAD)

    assert [len(r.data["ids"]) for r in receipts] == [MAX_IDS, MAX_IDS, 1]
    assert [i for r in receipts for i in r.data["ids"]] == ids
    assert len({r.id for r in receipts}) == 3
    # sealing adds about a third (base64) and a few hundred bytes: still far under Kafka's 1 MB
    assert max(len(encode_data(r.data)) for r in receipts) < 400_000


def test_a_receipt_made_again_for_the_same_records_is_the_same_receipt():
    stored = [received(HUI, HAISHU, "hui-1"), received(HUI, HAISHU, "hui-2")]
    first = receipts_for(stored, "node-haishu", NOW, HEAD)
    again = receipts_for(stored[::-1], "node-haishu", NOW + timedelta(minutes=5), None)
    other = receipts_for([received(GERZE, HAISHU, "hui-1"), received(GERZE, HAISHU, "hui-2")], "node-haishu", NOW)
    assert first[0].id == again[0].id != other[0].id  # the sender's inbox sees one receipt; another county's differs


def test_nothing_stored_is_nothing_to_acknowledge():
    assert receipts_for([], "node-haishu", NOW, HEAD) == []


# -- answering them: the receiving node -------------------------------------------------------------------------

async def receipts_owed(inbound) -> list[tuple[str, dict]]:  # noqa: ANN001
    """(receiver, payload) of each receipt in the outbox."""
    async with inbound.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.key, outbox.c.headers, outbox.c.value)
                                   .order_by(outbox.c.seq))).all()
    return [(r.key, orjson.loads(r.value)) for r in rows
            if ["ce_type", "cn.mpx.delivery_receipts"] in orjson.loads(r.headers)]


async def test_a_consumer_batch_is_acknowledged_by_one_receipt_carrying_the_chain_head_that_covers_it(haishu):
    wire = Wire()
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=1), "seen-before")])
    before = await receipts_owed(haishu)

    again = wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=1), "seen-before")
    await haishu.store([wire.record(MessageType.OUTFLOW_REGISTRATION, left_for_haishu(seed=n), f"new-{n}")
                        for n in range(2, 5)] + [again])

    assert [(key, data["ids"]) for key, data in before] == [(HUI, ["seen-before"])]
    [(key, receipt)] = (await receipts_owed(haishu))[1:]
    assert (key, receipt["ids"]) == (HUI, ["new-2", "new-3", "new-4"])  # the duplicate is not acknowledged again
    async with haishu.engine.connect() as conn:
        last = (await conn.execute(select(audit_log.c.seq, audit_log.c.hash, audit_log.c.event)
                                   .where(audit_log.c.seq == receipt["chain_head"]["seq"]))).one()
    assert last.hash == receipt["chain_head"]["hash"] and last.event == "received"


# -- accepting them: the sending node ---------------------------------------------------------------------------

async def sent_to_hui(inbound, *ids: str) -> None:  # noqa: ANN001
    """Records 海曙区 sent 徽县, published (waiting for their receipt)."""
    async with SqlUnitOfWork(inbound.engine, None, None) as uow:  # type: ignore[arg-type] - writes messages only
        for message_id in ids:
            envelope = new_envelope(message_type=MessageType.PREGNANCY_CHECK, schema_version="1.0", sender=HAISHU,
                                    receiver=HUI, now=utcnow(), message_id=message_id)
            await uow.messages.add([Outgoing(envelope, example_payload(MessageType.PREGNANCY_CHECK), "").message_row(
                Direction.OUT, DeliveryState.PUBLISHED, utcnow(), inbound.trust.seal_payload)])


async def delivery(inbound) -> dict[str, str]:  # noqa: ANN001
    async with inbound.engine.connect() as conn:
        return dict((await conn.execute(select(messages.c.id, messages.c.state)
                                        .where(messages.c.direction == Direction.OUT))).all())


def receipt(ids: list[str], head: dict | None = None) -> dict:
    return {"received_at": utcnow().isoformat(), "receiver_node_id": "node-hui", "ids": ids,
            **({"chain_head": head} if head else {})}


async def test_a_batch_receipt_marks_delivered_the_records_it_names_and_its_chain_head_is_kept(haishu):
    await sent_to_hui(haishu, "check-1", "check-2", "check-3")

    await haishu.store([Wire().record(MessageType.DELIVERY_RECEIPTS, receipt(["check-1", "check-3"], HEAD), "r-1")])

    assert await delivery(haishu) == {"check-1": "delivered", "check-2": "published", "check-3": "delivered"}
    async with haishu.engine.connect() as conn:
        heads = (await conn.execute(select(peer_chain_heads.c.node_id, peer_chain_heads.c.seq, peer_chain_heads.c.peer,
                                           peer_chain_heads.c.message_id))).all()
        kept = (await conn.execute(select(inbox.c.message_id, inbox.c.type))).all()
        assert not (await conn.execute(select(messages.c.id).where(messages.c.direction == Direction.IN))).all()
    assert [tuple(h) for h in heads] == [("node-hui", 41, HUI, "r-1")]
    assert [tuple(k) for k in kept] == [("r-1", "delivery_receipts")]
    assert await receipts_owed(haishu) == []  # a receipt is not acknowledged


async def test_a_single_receipt_from_a_node_before_batch_receipts_still_marks_its_record_delivered(haishu):
    await sent_to_hui(haishu, "check-1", "check-2")
    single = {"received_at": utcnow().isoformat(), "receiver_node_id": "node-hui"}

    await haishu.store([Wire().record(MessageType.DELIVERY_RECEIPT, single, "r-old", in_reply_to="check-2")])

    assert await delivery(haishu) == {"check-1": "published", "check-2": "delivered"}


async def test_a_third_county_cannot_mark_records_delivered_with_a_batch_receipt(haishu):
    """改则县's node signs with its own genuine key: the receipt verifies, but 改则县 received none of these."""
    haishu.trust.ring.add_public(GERZE_KEY.public_key())
    await sent_to_hui(haishu, "check-1", "check-2")
    gerze, hui = Wire(GERZE_KEY), Wire()
    gerze.offset = 100  # its own place on the partition

    await haishu.store([gerze.record(MessageType.DELIVERY_RECEIPTS, receipt(["check-1", "check-2"], HEAD), "forged"),
                        # 徽县 itself cannot slip a record sent to another county in with its own
                        hui.record(MessageType.DELIVERY_RECEIPTS, receipt(["check-1", "not-to-hui"]), "mixed")])

    assert await delivery(haishu) == {"check-1": "published", "check-2": "published"}
    async with haishu.engine.connect() as conn:
        set_aside = (await conn.execute(select(quarantine.c.message_id, quarantine.c.reason_code)
                                        .order_by(quarantine.c.seq))).all()
        assert not (await conn.execute(select(peer_chain_heads))).all()
    assert [tuple(q) for q in set_aside] == [("forged", "not_counterpart"), ("mixed", "not_counterpart")]

    # 徽县's genuine receipt still counts.
    await haishu.store([hui.record(MessageType.DELIVERY_RECEIPTS, receipt(["check-1", "check-2"]), "genuine")])
    assert await delivery(haishu) == {"check-1": "delivered", "check-2": "delivered"}
