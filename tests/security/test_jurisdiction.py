"""A node serving several counties: each county's people see their own county's records and nothing of the other's.

Hui County (621227) and Gêrzê County (542526) share a node. Gêrzê's system and Hui's operator each try to read
what is the other county's business: the records set aside in quarantine, the reconciliation digests, the
obligations, and a message of the other county (by answering it). An admin still sees everything; the genuine
owner still reads and answers its own.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from contracts import MessageType
from exchange.domain.principals import Role
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message

ADMIN = "jurisdiction-admin-token-of-the-test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def shared_node(federation: Federation):
    """The shared node, Haishu's node, and on the shared node: a record Hui sent to Haishu, a record Haishu sent to
    Hui, a quarantined record of each county, today's reconciliation digests, and keys of both counties."""
    shared = await federation.start(HUI, GERZE, admin_token=ADMIN, reconcile_at="")
    haishu = await federation.start(HAISHU, admin_token=ADMIN, reconcile_at="")
    to_haishu = await shared.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    to_hui = await haishu.client.send(message(MessageType.OUTFLOW_REGISTRATION, HAISHU, HUI, 2))
    await eventually(lambda: in_inbox(haishu, to_haishu), what="Hui's record at Haishu")
    await eventually(lambda: in_inbox(shared, to_hui), what="Haishu's record at Hui")
    await poison(federation, shared, HUI)
    await poison(federation, shared, GERZE)

    async def both_quarantined():
        return len((await shared.http.get("/v1/quarantine", headers=bearer(ADMIN))).json()["items"]) == 2

    await eventually(both_quarantined, what="a quarantined record of each county")
    assert (await shared.http.post("/v1/reconciliation/run", headers=bearer(ADMIN))).status_code == 202
    store = shared.node.keys
    keys = {
        "gerze_system": (await store.create(name="改则县系统", role=Role.COUNTY_SYSTEM,
                                            counties=frozenset({GERZE}))).key,
        "hui_system": (await store.create(name="徽县系统", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}))).key,
        "hui_operator": (await store.create(name="徽县窗口", role=Role.COUNTY_OPERATOR,
                                            counties=frozenset({HUI}))).key,
    }
    return shared, to_haishu, to_hui, keys


async def poison(federation: Federation, node: RunningNode, county: str) -> None:
    """A record nobody can read, addressed to `county`: the node quarantines it."""
    topic, partition = node.node.topics.address(county)
    producer = AIOKafkaProducer(bootstrap_servers=federation.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\x00not a record", key=county.encode(), partition=partition)
    finally:
        await producer.stop()


async def test_a_county_sees_only_its_own_quarantined_records(shared_node):
    shared, _to_haishu, _to_hui, keys = shared_node

    async def listed(token: str) -> list[str]:
        response = await shared.http.get("/v1/quarantine", headers=bearer(token))
        assert response.status_code == 200
        return [item["partition"] for item in response.json()["items"]]

    hui_partition, gerze_partition = (shared.node.topics.partition_for(c) for c in (HUI, GERZE))
    assert await listed(keys["gerze_system"]) == [gerze_partition]
    assert await listed(keys["hui_operator"]) == [hui_partition]
    assert sorted(await listed(ADMIN)) == sorted([hui_partition, gerze_partition])


async def test_a_county_sees_only_its_own_reconciliation(shared_node):
    shared, _to_haishu, _to_hui, keys = shared_node

    async def counties(token: str, **params: str) -> set[str]:
        response = await shared.http.get("/v1/reconciliation", headers=bearer(token), params=params)
        assert response.status_code == 200
        return {item["county"] for item in response.json()["items"]}

    assert await counties(ADMIN) == {HUI}  # only Hui sent anything today
    assert await counties(keys["hui_operator"]) == {HUI}
    assert await counties(keys["gerze_system"]) == set()
    assert await counties(keys["gerze_system"], peer=HAISHU) == set()


async def test_a_county_sees_only_its_own_obligations_and_reminders(shared_node):
    shared, _to_haishu, to_hui, keys = shared_node
    hui = (await shared.http.get("/v1/obligations", headers=bearer(keys["hui_operator"]))).json()["items"]
    assert [o["message_id"] for o in hui] == [to_hui]
    assert (await shared.http.get("/v1/obligations", headers=bearer(keys["gerze_system"]))).json()["items"] == []
    assert (await shared.http.get("/v1/reminders", headers=bearer(keys["gerze_system"]))).json() == []


async def test_answering_another_countys_message_is_answered_as_if_it_did_not_exist(shared_node):
    shared, _to_haishu, to_hui, keys = shared_node
    gerze = bearer(keys["gerze_system"])
    theirs = await shared.http.post(f"/v1/messages/{to_hui}/feedback", json={"data": feedback("confirmed")},
                                    headers=gerze)
    unknown = await shared.http.post("/v1/messages/no-such-message/feedback", json={"data": feedback("confirmed")},
                                     headers=gerze)
    assert theirs.status_code == unknown.status_code == 404
    same = {k: v for k, v in unknown.json().items() if k not in ("detail", "detail_zh", "instance")}
    assert {k: v for k, v in theirs.json().items() if k not in ("detail", "detail_zh", "instance")} == same
    assert theirs.json()["detail"] == unknown.json()["detail"].replace("no-such-message", to_hui)
    assert HUI not in theirs.text
    assert (await shared.http.get(f"/v1/messages/{to_hui}", headers=gerze)).status_code == 404
    # Hui's own system answers it; nothing was sent for Gêrzê.
    answered = await shared.http.post(f"/v1/messages/{to_hui}/feedback", json={"data": feedback("confirmed")},
                                      headers=bearer(keys["hui_system"]))
    assert answered.status_code == 202
    view = (await shared.http.get(f"/v1/messages/{to_hui}", headers=bearer(keys["hui_operator"]))).json()
    assert view["state"] == "answered" and len(view["feedback"]) == 1 and view["feedback"][0]["sender"] == HUI
