"""Alembic environment: runs migrations over the node's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from exchange.adapters.sql.database import create_engine
from exchange.adapters.sql.tables import metadata

config = context.config


#: Replicas of one node starting together would otherwise run the same migration at once.
MIGRATION_LOCK = 0x4D505801


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":  # held until the migration transaction commits
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_main())
