"""A local system follows GET /v1/inbox with its cursor and must see every record, however the transactions that
store them interleave: replicas of a node, the members of a provincial group, or a consumer and a quarantine
replay store records at the same time on one PostgreSQL database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select

from contracts import MessageType
from exchange.adapters.sql.message_repository import MessageRepository
from exchange.adapters.sql.tables import messages
from tests.integration.conftest import Federation, eventually, in_inbox
from tests.integration.test_round_trip import HAISHU, HUI, message

pytestmark = pytest.mark.integration


# SQLite has one writer: a transaction that stores records holds the database until it commits.
@pytest.mark.parametrize("database_kind", ["postgresql"])
async def test_a_record_committed_after_a_later_one_is_not_skipped_by_the_cursor(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    ids = [await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed)) for seed in (1, 2)]
    for message_id in ids:
        await eventually(lambda: in_inbox(haishu, message_id), what=f"{message_id} at 330203")
    inbox = haishu.node.queries.inbox
    cursor = (await inbox(counties=[HAISHU], type_=None, answered=None, cursor=None, limit=500))["next_cursor"]

    # The two records are stored again, each by its own transaction, as two consumers would store them.
    engine = haishu.node.engine
    async with engine.begin() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(
            select(messages).where(messages.c.id.in_(ids)).order_by(messages.c.seq))).all()]
        await conn.execute(delete(messages).where(messages.c.id.in_(ids)))
    for row in rows:
        del row["seq"]

    seen: list[str] = []

    async def poll() -> None:
        nonlocal cursor
        page = await inbox(counties=[HAISHU], type_=None, answered=None, cursor=cursor, limit=500)
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]

    async def store_second() -> None:
        async with engine.begin() as conn:
            await MessageRepository(conn).add([rows[1]])

    async with engine.connect() as first:
        transaction = await first.begin()
        await MessageRepository(first).add([rows[0]])  # takes the lower seq, commits last
        second = asyncio.create_task(store_second())
        await asyncio.wait([second], timeout=1.0)
        await poll()  # the local system polls between the two commits
        await transaction.commit()
    await second
    await poll()

    assert sorted(seen) == sorted(ids), f"the cursor passed over {set(ids) - set(seen)}"
