"""Identity per sender: a message is (sending county, id), on real Kafka, on SQLite and on PostgreSQL.

Ids are chosen by the local case systems, and many use the same scheme (year and a counter). A county that
posts a record under an id another county already used for the same receiver, by chance or to suppress it,
must not make the receiver drop the genuine record; two counties of one node using the same id both send;
and no answer tells a county which ids another county used.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from contracts import MessageType
from exchange.adapters.sql.database import alembic_config, create_engine, migrate
from exchange.adapters.sql.tables import inbox, messages, monitor_obligations, obligations, reminders
from exchange.config import Settings
from exchange.domain import CalendarBook
from exchange.domain.clock import utcnow
from exchange.domain.principals import Role
from exchange.service.monitoring import MonitorQueries
from tests.integration.conftest import Federation, RunningNode, database_kind, eventually, federation, in_inbox  # noqa: F401
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message
from tests.integration.test_trust import header, produce, topic_records
from tests.security.test_counterpart import forge, quarantined

pytestmark = pytest.mark.integration

JIANGBEI, BEILUN = "330205", "330206"  # two districts of Ningbo, served by one node


async def test_a_county_reusing_another_countys_id_cannot_make_the_receiver_drop_the_genuine_record(
        federation: Federation):
    await federation.start_monitor("all")
    hui = await federation.start(HUI)
    gerze = await federation.start(GERZE)
    haishu = await federation.start(HAISHU)
    reused = f"2026-{uuid.uuid4().hex[:8]}"  # 徽县's next id, easy to guess
    squatting = {**message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU, 1), "id": reused}
    genuine = {**message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2), "id": reused}
    await gerze.client.send(squatting)
    await eventually(lambda: in_inbox(haishu, reused), what="改则县's record under 徽县's id")
    await hui.client.send(genuine)
    marker = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3))
    await eventually(lambda: in_inbox(haishu, marker), what="徽县's records")

    inbox = {(item["sender"], item["id"]) for item in await haishu.client.inbox_all()}
    assert inbox == {(GERZE, reused), (HUI, reused), (HUI, marker)}, "the genuine record was dropped"
    await eventually(lambda: _state(hui, reused, "delivered"), what="徽县's record acknowledged")
    await eventually(lambda: _state(gerze, reused, "delivered"), what="改则县's record acknowledged")

    # 改则县 claims in a digest to have sent 徽县's ids, so that 海曙区 forgets having them; then copies of
    # 徽县's records come again (a producer's retry): they are still recognised, once is once.
    await forge(gerze, MessageType.RECONCILIATION_DIGEST, sender=GERZE, receiver=HAISHU, data=_digest([marker]))
    await eventually(lambda: _checked(haishu), what="the digest checked")
    for message_id in (reused, marker):
        await _send_again(federation, haishu, HUI, message_id)
    last = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 7))
    await eventually(lambda: in_inbox(haishu, last), what="徽县's record behind the copies")
    assert sorted((i["sender"], i["id"]) for i in await haishu.client.inbox_all()) == sorted(
        [(GERZE, reused), (HUI, reused), (HUI, marker), (HUI, last)])
    assert await quarantined(haishu) == []

    # 海曙区 reads and answers each of them by naming its sender; without it the id is ambiguous.
    ambiguous = await haishu.http.get(f"/v1/messages/{reused}")
    assert ambiguous.status_code == 409 and ambiguous.json()["type"] == "urn:mpx:problem:sender_required"
    assert sorted(ambiguous.json()["senders"]) == sorted([GERZE, HUI])
    from_hui = await haishu.client.message(reused, sender=HUI)
    assert from_hui["sender"] == HUI and from_hui["data"]["person"] == genuine["data"]["person"]
    assert (await haishu.http.post(f"/v1/messages/{reused}/feedback",
                                   json={"data": feedback("confirmed")})).status_code == 409
    answer = await haishu.client.answer(reused, feedback("confirmed"), sender=HUI)
    view = await eventually(lambda: _state(hui, reused, "answered"), what="徽县 answered")
    assert [f["id"] for f in view["feedback"]] == [answer]
    assert (await gerze.client.message(reused))["feedback"] == []  # 改则县's record is not answered by it
    assert (await haishu.client.message(reused, sender=GERZE))["obligation"]["answered_at"] is None
    assert (await haishu.client.message(reused, sender=HUI))["obligation"]["answered_at"] is not None

    # Reminders and the monitor's copy keep one obligation per record.
    await haishu.node.reminders.emit_due(utcnow() + timedelta(days=60))
    async with haishu.node.engine.connect() as conn:
        fired = set(await conn.scalars(select(reminders.c.sender).where(reminders.c.message_id == reused)))
    assert fired == {GERZE}  # 徽县's record was answered in time; 改则县's was not
    watched = federation.monitor_nodes[0]

    async def monitored() -> set[tuple[str, bool]]:
        async with watched.engine.connect() as conn:
            rows = await conn.execute(select(monitor_obligations.c.sender, monitor_obligations.c.answered_at)
                                      .where(monitor_obligations.c.message_id == reused))
            return {(r.sender, r.answered_at is not None) for r in rows}
    await eventually(lambda: _equals(monitored(), {(GERZE, False), (HUI, True)}), what="the monitor's two copies")


async def test_two_counties_of_one_node_with_the_same_id_scheme_both_send_and_neither_learns_the_others_ids(
        federation: Federation):
    ningbo = await federation.start(JIANGBEI, BEILUN)
    hui = await federation.start(HUI)
    jiangbei, beilun = await _county_key(ningbo, JIANGBEI), await _county_key(ningbo, BEILUN)
    same = f"2026-{uuid.uuid4().hex[:6]}"
    first = {**message(MessageType.PREGNANCY_CHECK, JIANGBEI, HUI, 4), "id": same}
    second = {**message(MessageType.PREGNANCY_CHECK, BEILUN, HUI, 5), "id": same}

    assert (await _post(ningbo, jiangbei, first)).status_code == 202
    refused = await _post(ningbo, beilun, second)
    assert refused.status_code == 202, f"北仑区 learns that 江北区 used {same}: {refused.json()}"
    assert (await _post(ningbo, beilun, second)).status_code == 202  # the same again: idempotent
    changed = {**second, "data": message(MessageType.PREGNANCY_CHECK, BEILUN, HUI, 6)["data"]}
    assert (await _post(ningbo, beilun, changed)).status_code == 409  # its own id for other content

    await eventually(lambda: _count(hui, same, 2), what="both records at 徽县")
    for county, key in ((JIANGBEI, jiangbei), (BEILUN, beilun)):
        own = (await ningbo.http.get(f"/v1/messages/{same}", headers={"Authorization": f"Bearer {key}"})).json()
        assert (await hui.client.message(same, sender=county))["data"] == own["data"]
        await hui.client.answer(same, feedback("received"), sender=county)
    # Each district sees its own record, delivered and answered by its own feedback, and nothing of the other's.
    for county, key in ((JIANGBEI, jiangbei), (BEILUN, beilun)):
        view = await eventually(lambda: _answered_for(ningbo, key, same), what=f"{county}'s record answered")
        assert view["sender"] == county and len(view["feedback"]) == 1
        assert view["feedback"][0]["receiver"] == county
    both = await ningbo.http.get(f"/v1/messages/{same}")  # the node's own key acts for both
    assert both.status_code == 409 and sorted(both.json()["senders"]) == [JIANGBEI, BEILUN]


def _digest(ids: list[str]) -> dict[str, Any]:
    from contracts.payloads.reconciliation import ids_sha256

    now = utcnow()
    return {"day": now.date().isoformat(), "until": now.isoformat(), "total": len(ids), "part": 1, "parts": 1,
            "count": len(ids), "sha256": ids_sha256(ids), "ids": sorted(ids)}


async def _send_again(fed: Federation, node: RunningNode, sender: str, message_id: str) -> None:
    """An exact copy of a record already on the node's topic, as a producer's retry writes it."""
    county = node.settings.counties[0]
    topic, partition = node.node.topics.address(county)
    [original] = [r for r in await topic_records(fed.bootstrap, topic, partition)
                  if header(r.headers, "ce_id") == message_id and header(r.headers, "ce_senderregion") == sender]
    await produce(fed.bootstrap, topic, partition, county, original.value, list(original.headers))


async def _checked(node: RunningNode) -> bool:
    items = (await node.http.get("/v1/reconciliation")).json()["items"]
    return any(i["kind"] == "digest_checked" for i in items)


async def _state(node: RunningNode, message_id: str, state: str) -> dict[str, Any] | None:
    view = await node.client.message(message_id)
    return view if view["state"] == state else None


async def _equals(found, expected: Any) -> bool:  # noqa: ANN001 - an awaitable
    return await found == expected


async def _count(node: RunningNode, message_id: str, count: int) -> bool:
    return sum(1 for item in await node.client.inbox_all() if item["id"] == message_id) == count


async def _county_key(node: RunningNode, county: str) -> str:
    """An API key of one district's case system (as `mpx keys create` makes it)."""
    return (await node.node.keys.create(name=f"{county} 业务系统", role=Role.COUNTY_SYSTEM,
                                        counties=frozenset({county}))).key


async def _post(node: RunningNode, key: str, body: dict[str, Any]):  # noqa: ANN202 - an httpx response
    return await node.http.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"})


async def _answered_for(node: RunningNode, key: str, message_id: str) -> dict[str, Any] | None:
    response = await node.http.get(f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    view = response.json()
    return view if view["state"] == "answered" else None


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_an_upgraded_node_keeps_what_it_stored_and_learns_who_sent_it(kind: str, request: pytest.FixtureRequest,
                                                                            tmp_path):  # noqa: ANN001
    """Migration 0012 on a database of the release before: every row kept, named by its sender from then on."""
    url = (request.getfixturevalue("make_postgres_database")() if kind == "postgresql"
           else f"sqlite+aiosqlite:///{tmp_path / 'node.db'}")
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0011_monitor_sender_summary")
    now, day = utcnow(), utcnow().date()
    row = {"message_type": "outflow_registration", "sender": HUI, "receiver": HAISHU}
    before = {
        "messages": [{"id": "2026-1", "direction": "in", "type": "outflow_registration", "schema_version": "1.0",
                      "sender": HUI, "receiver": HAISHU, "state": "delivered", "envelope": "{}", "payload": "{}",
                      "content_hash": "", "created_at": now}],
        "inbox": [{"message_id": "2026-1", "type": "outflow_registration", "topic": "t", "partition": 0, "offset": 1,
                   "received_at": now},
                  {"message_id": "receipt-1", "type": "delivery_receipt", "topic": "t", "partition": 0, "offset": 2,
                   "received_at": now}],
        "obligations": [{"message_id": "2026-1", **row, "received_at": now, "due_at": now, "provisional": False,
                         "paused": False, "revision": 1, "state": "{}"}],
        "reminders": [{"message_id": "2026-1", "kind": "half", "receiver": HAISHU, "due_at": now, "fire_at": now,
                       "emitted_at": now}],
        "monitor_obligations": [{"message_id": "2026-1", **row, "agreement_id": "a", "agreement_version": 1,
                                 "calendar_id": "c", "received_at": now, "due_at": now, "due_day": day,
                                 "provisional": False, "paused": False, "paused_working_days": 0, "revision": 1}],
    }
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for name, rows in before.items():
                await conn.execute(sa.table(name, *(sa.column(c) for c in rows[0])).insert(), rows)
        await migrate(url)
        async with engine.begin() as conn:
            senders = {name: sorted(await conn.scalars(select(table.c.sender))) for name, table in (
                ("inbox", inbox), ("reminders", reminders), ("obligations", obligations),
                ("monitor_obligations", monitor_obligations))}
            assert senders == {"inbox": ["", HUI], "reminders": [HUI], "obligations": [HUI],
                               "monitor_obligations": [HUI]}
            # Now another county's record with the same id has its own place in each of them.
            for name, rows in before.items():
                table = sa.table(name, *(sa.column(c) for c in [*rows[0], "sender"]))
                await conn.execute(table.insert(), [{**rows[0], "sender": GERZE}])
            assert await conn.scalar(select(sa.func.count()).select_from(messages)) == 2
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_monitor_pages_through_two_senders_overdue_records_with_the_same_id(
        kind: str, request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001
    """The overdue listing goes by (due day, id, sender): a page boundary between the two loses neither."""
    url = (request.getfixturevalue("make_postgres_database")() if kind == "postgresql"
           else f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}")
    await migrate(url)
    due = utcnow() - timedelta(days=10)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(monitor_obligations.insert(), [
                {"message_id": "2026-000001", "message_type": "outflow_registration", "sender": sender,
                 "receiver": HAISHU, "agreement_id": "a", "agreement_version": 1, "calendar_id": "c",
                 "received_at": due - timedelta(days=5), "due_at": due, "due_day": due.date(), "provisional": False,
                 "paused": False, "paused_working_days": 0, "revision": 1} for sender in (HUI, GERZE)])
        national = Settings(role="monitor", monitor_scope=("all",)).in_scope
        for in_sql, in_scope in ((True, national), (False, lambda county: True)):  # a scope in SQL, or opaque
            queries = MonitorQueries(engine, in_scope, CalendarBook.default())
            assert queries.scope_in_sql is in_sql
            first = await queries.overdue(now=utcnow(), limit=1)
            second = await queries.overdue(now=utcnow(), limit=1, cursor=first["next_cursor"])
            assert first["count"] == 2 and first["has_more"] and not second["has_more"]
            assert [i["sender"] for i in first["items"] + second["items"]] == sorted([HUI, GERZE])
    finally:
        await engine.dispose()
