"""The two statements whose syntax differs between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: Table):  # noqa: ANN202 - dialect-specific Insert
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table, *keys: str):  # noqa: ANN201
    """INSERT … ON CONFLICT (keys) DO NOTHING; rowcount tells whether the row was new."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))


def upsert(conn: AsyncConnection, table: Table, keys: list[str], values: dict, only_if=None):  # noqa: ANN001,ANN201
    """INSERT, or UPDATE the existing row; `only_if(excluded)` may restrict when the update happens."""
    stmt = _insert(conn, table).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={k: v for k, v in values.items() if k not in keys},
        where=only_if(stmt.excluded) if only_if else None,
    )
