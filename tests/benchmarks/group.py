"""A provincial node group (MPX_CONSUMER_GROUP) consuming for speed: one process against two, same records.

The sender publishes the records once, to eight Zhejiang counties (a partition each of the province's topic),
sealed to the provincial node's keys. The provincial node's database, with those keys and nothing consumed, is
copied (PostgreSQL `CREATE DATABASE … TEMPLATE`) for each run, so both runs read the very same records from the
topic with the same keys; each run is its own consumer group. Rate = records ÷ (the last stored record's `created_at` − the first's).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from exchange.adapters.sql.database import create_engine
from exchange.adapters.sql.tables import messages
from tests import infra
from tests.benchmarks.common import NodeProcess, batch_bodies
from tests.benchmarks.ingest import SENDER, post_all, unpublished

# One county on each of the 8 partitions of <prefix>.records.33 (as tests/faults/test_provincial_group.py).
ZHEJIANG = ["330108", "330102", "330109", "330105", "330122", "330110", "330205", "330203"]


async def group_consume(postgres_url: str, database: Any, bootstrap: str, *, messages_total: int,  # noqa: ANN401
                        sizes: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """`database(prefix) -> url` makes an empty database; returns the consume rate of each group size."""
    prefix = f"benchgroup{uuid.uuid4().hex[:8]}"
    template = database("bench_group_keys")
    province = NodeProcess("group-keys", ZHEJIANG, template, bootstrap, prefix,
                           extra_env={"MPX_CONSUMER_GROUP": f"{prefix}-keys"})
    province.start()
    await province.wait_ready()
    await asyncio.sleep(3)  # its keys on the keys topic (the sender would hold the records until they are)
    province.stop()

    sender_db = database("bench_group_sender")
    sender = NodeProcess("group-sender", [SENDER], sender_db, bootstrap, prefix)
    sender.start()
    engine = create_engine(sender_db)
    try:
        await sender.wait_ready()
        await post_all([sender.url], batch_bodies(uuid.uuid4().hex[:8], SENDER, ZHEJIANG, messages_total, 500), 4)
        deadline = time.monotonic() + 300
        while await unpublished(engine) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
        sender.stop()

    result: dict[str, Any] = {"messages": messages_total, "counties": len(ZHEJIANG), "partitions": 8}
    for size in sizes:
        copy = f"bench_group_{size}_{uuid.uuid4().hex[:6]}"
        await _sql(postgres_url, f'CREATE DATABASE "{copy}" TEMPLATE "{make_url(template).database}"')
        url = make_url(template).set(database=copy).render_as_string(hide_password=False)
        members = [NodeProcess(f"group-{size}-{n}", ZHEJIANG, url, bootstrap, prefix,
                               extra_env={"MPX_CONSUMER_GROUP": f"{prefix}-{size}"}) for n in range(size)]
        for member in members:
            member.start()
        engine = create_engine(url)
        try:
            deadline = time.monotonic() + 300
            while (stored := await _stored(engine))[0] < messages_total and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            count, first, last = stored
            seconds = (last - first).total_seconds() if count else None
            result[f"processes_{size}"] = {"stored": count, "seconds": round(seconds, 2) if seconds else None,
                                           "per_s": round(count / seconds, 1) if seconds else None}
        finally:
            await engine.dispose()
            for member in members:
                member.stop()
            infra.drop_postgres_database(url, maintenance_url=postgres_url)
    return result


async def _stored(engine) -> tuple[int, Any, Any]:  # noqa: ANN001
    async with engine.connect() as conn:
        row = (await conn.execute(select(func.count(), func.min(messages.c.created_at),
                                         func.max(messages.c.created_at)).where(messages.c.direction == "in"))).one()
    return row[0], row[1], row[2]


async def _sql(url: str, statement: str) -> None:
    """A statement outside a transaction (CREATE DATABASE): straight asyncpg."""
    import asyncpg

    conn = await asyncpg.connect(**infra._asyncpg_kwargs(url), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
