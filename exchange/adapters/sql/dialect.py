"""The statements whose syntax differs between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Table, text
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
    return upsert_many(conn, table, keys, list(values), only_if).values(**values)


def insert_or_add(conn: AsyncConnection, table: Table, keys: list[str], counts: list[str]):  # noqa: ANN201
    """INSERT rows, or add their `counts` to those of the row with the same `keys` (one statement, many rows)."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: table.c[c] + stmt.excluded[c] for c in counts})


def upsert_many(conn: AsyncConnection, table: Table, keys: list[str], columns: list[str], only_if=None):  # noqa: ANN001,ANN201
    """``upsert`` for many rows at once: execute it with a list of dicts that have every one of `columns`."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c: stmt.excluded[c] for c in columns if c not in keys},
        where=only_if(stmt.excluded) if only_if else None,
    )


#: PostgreSQL: the advisory lock of the evidence chain (one appender at a time), also held by a transaction that
#: stores received records, so that they become visible in the order of their seq (see MessageRepository.add).
CHAIN_LOCK = 0x6D7078  # "mpx"


async def hold_chain(conn: AsyncConnection) -> None:
    """Take CHAIN_LOCK until the transaction ends (SQLite: nothing; its one writer serialises already)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
