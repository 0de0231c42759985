"""Two counties exchange records over real Kafka, end to end, on SQLite and on PostgreSQL."""

from __future__ import annotations

from contracts import MessageType, today_in_china
from contracts.examples import example_payload
from tests.integration.conftest import Federation, eventually, in_inbox

HUI, GERZE, HAISHU = "621227", "542526", "330203"


def message(kind: MessageType, sender: str, receiver: str, seed: int = 1, **extra) -> dict:
    """A message the way a local case system posts it; registration/residence counties follow the direction."""
    registration, residence = (sender, receiver) if kind in (
        MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION) else (receiver, sender)
    data = example_payload(kind, seed=seed, registration_region=registration, residence_region=residence)
    return {"type": kind.value, "sender": sender, "receiver": receiver, "data": data, **extra}


def feedback(status: str, **extra) -> dict:
    return {"status": status, "handled_on": today_in_china().isoformat(), **extra}


async def test_an_outflow_registration_arrives_once_and_its_feedback_comes_back(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)

    sent_id = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    assert (await hui.client.message(sent_id))["state"] in {"accepted", "published", "delivered"}

    inbox = await eventually(lambda: haishu.client.inbox_all(answered=False), what="the record in 330203's inbox")
    assert [item["id"] for item in inbox] == [sent_id]
    assert inbox[0]["sender"] == HUI and inbox[0]["type"] == "outflow_registration"
    delivered = await eventually(
        lambda: _state_is(hui, sent_id, "delivered"), what="the sender to see the record delivered"
    )
    assert delivered["delivered_at"] is not None

    feedback_id = await haishu.client.answer(sent_id, feedback("confirmed"))
    answered = await eventually(lambda: _state_is(hui, sent_id, "answered"), what="the sender to see it answered")
    assert [f["id"] for f in answered["feedback"]] == [feedback_id]
    assert answered["feedback"][0]["data"]["status"] == "confirmed"
    assert (await haishu.client.inbox_all(answered=True))[0]["id"] == sent_id
    assert await haishu.client.inbox_all(answered=False) == []

    # Exactly once: the receiver holds one copy, the sender one feedback, whatever the relays did.
    assert (await haishu.counts())["messages"] == 2  # the record and its feedback
    assert len(await hui.client.inbox_all(type="feedback")) == 1


async def test_all_four_event_types_make_the_round_trip(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    flows = [
        (MessageType.OUTFLOW_REGISTRATION, hui, haishu),
        (MessageType.PREGNANCY_CHECK, haishu, hui),
        (MessageType.BIRTH, haishu, hui),
        (MessageType.RETURN_CANCELLATION, hui, haishu),
    ]
    sent = {}
    for seed, (kind, sender, receiver) in enumerate(flows, start=10):
        county_from, county_to = sender.settings.counties[0], receiver.settings.counties[0]
        sent[kind] = (await sender.client.send(message(kind, county_from, county_to, seed)), sender, receiver)

    for kind, (message_id, sender, receiver) in sent.items():
        await eventually(lambda: in_inbox(receiver, message_id), what=f"{kind} in the receiver's inbox")
        received = await receiver.client.message(message_id)
        assert received["type"] == kind.value and received["direction"] == "in"
        assert received["data"] == (await sender.client.message(message_id))["data"]
        await receiver.client.answer(message_id, feedback("received"))

    for kind, (message_id, sender, _receiver) in sent.items():
        view = await eventually(lambda: _state_is(sender, message_id, "answered"), what=f"{kind} answered")
        assert view["feedback"][0]["data"]["status"] == "received"


async def test_a_batch_of_1000_arrives_complete_and_in_order(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    batch = [message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed) for seed in range(1000)]

    ids = await hui.client.send_batch(batch)
    assert len(ids) == len(set(ids)) == 1000

    async def all_arrived():
        items = await haishu.client.inbox_all()
        return items if len(items) >= 1000 else None

    items = await eventually(all_arrived, timeout=120, what="1000 records in the inbox")
    assert [item["id"] for item in items] == ids  # complete, no duplicates, in the order sent
    print(f"batch: sent {len(ids)}, received {len(items)}")


async def test_one_node_serving_two_counties_receives_for_both(federation: Federation):
    registration = await federation.start(HUI, GERZE)
    haishu = await federation.start(HAISHU)

    from_hui = await registration.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    from_gerze = await registration.client.send(message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 2))
    to_gerze = await haishu.client.send(message(MessageType.BIRTH, HAISHU, GERZE, 3))

    await eventually(lambda: in_inbox(haishu, from_gerze), what="both records at 330203")
    assert {i["id"] for i in await haishu.client.inbox_all()} == {from_hui, from_gerze}
    await eventually(lambda: in_inbox(registration, to_gerze), what="the birth at 542526")
    only_gerze = await registration.client.inbox_all(county=GERZE)
    assert [i["id"] for i in only_gerze] == [to_gerze]
    assert await registration.client.inbox_all(county=HUI) == []


async def test_posting_the_same_message_id_twice_stores_it_once(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, id="hui-2026-000123")

    first = await hui.client.send(posted)
    again = await hui.client.send(posted)

    assert first == again == "hui-2026-000123"
    await eventually(lambda: in_inbox(haishu, first), what="the record at 330203")
    assert (await hui.counts()) == {"messages": 1, "outbox": 1}
    assert len(await haishu.client.inbox_all()) == 1


async def _state_is(node, message_id: str, state: str):  # noqa: ANN001
    view = await node.client.message(message_id)
    return view if view["state"] == state else None
