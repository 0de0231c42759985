"""Engine creation and schema migration (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, full fsync and a busy timeout so API, relay and consumer can share it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


class WriteGate:
    """One writing transaction at a time per SQLite database in this process, the relay's first.

    SQLite has a single writer, and writers that find it busy poll for it (``busy_timeout``, sleeping up to 100 ms
    between tries): whoever polls when it is free wins, and meanwhile it may stand idle. The relay, one writer among
    many HTTP requests and needing two transactions (claim, mark) per batch, won about one round in eight, and its
    backlog grew without end (`make bench`: published ÷ accepted 0.12). Here writers queue in order and are woken
    at once, and the relay's transactions go before the queue, so it keeps up and accepting slows instead.
    Written by hand: asyncio has no priority lock.
    """

    def __init__(self) -> None:
        self._free = asyncio.Condition()
        self._held = False
        self._first_waiting = 0

    @asynccontextmanager
    async def held(self, *, first: bool) -> AsyncIterator[None]:
        async with self._free:
            self._first_waiting += first
            try:
                await self._free.wait_for(lambda: not self._held and (first or not self._first_waiting))
            finally:
                self._first_waiting -= first
            self._held = True
        try:
            yield
        finally:
            async with self._free:
                self._held = False
                self._free.notify_all()


_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The gates the running task holds: a transaction opened inside another (on its own connection) does not wait for
#: its own gate.
_holding: contextvars.ContextVar[frozenset[WriteGate]] = contextvars.ContextVar("holding", default=frozenset())


def _gate(engine: AsyncEngine) -> WriteGate | None:
    """The SQLite database's gate (made on first use); None for PostgreSQL, which has writers side by side."""
    if engine.dialect.name != "sqlite":
        return None
    gate = _gates.get(engine.sync_engine)
    if gate is None:
        gate = _gates[engine.sync_engine] = WriteGate()
    return gate


@asynccontextmanager
async def writing(engine: AsyncEngine, *, first: bool = False) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()`` for a transaction that writes; on SQLite through the database's `WriteGate` (``first``:
    ahead of those waiting, for the relay)."""
    gate = _gate(engine)
    holding = _holding.get()
    if gate is None or gate in holding:
        async with engine.begin() as conn:
            yield conn
        return
    async with gate.held(first=first):
        token = _holding.set(holding | {gate})
        try:
            async with engine.begin() as conn:
                yield conn
        finally:
            _holding.reset(token)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(url: str) -> None:
    """Bring the database to the newest schema (idempotent; run at every node start)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
