"""Federations of real nodes for the scenarios: each node its own database, all on the session's Kafka.

Nodes run in the test's event loop and are called through httpx's ASGI transport;
Kafka and the databases are the real ones. Each test gets its own topic prefix,
so tests never see each other's records.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from adapters.client import NodeClient
from exchange.adapters.crypto.payload_crypto import new_key
from exchange.adapters.crypto.signed_agreements import new_agreement_key
from exchange.adapters.sql.tables import messages, outbox
from exchange.bootstrap import Node
from exchange.config import Settings
from exchange.entrypoints.http.app import create_app


@dataclass
class RunningNode:
    settings: Settings
    node: Node
    client: NodeClient
    http: httpx.AsyncClient
    app: Any = None  # the ASGI app, for a client of one's own (another client address)

    async def counts(self) -> dict[str, int]:
        async with self.node.engine.connect() as conn:
            return {
                "messages": await conn.scalar(select(func.count()).select_from(messages)),
                "outbox": await conn.scalar(select(func.count()).select_from(outbox)),
            }


class Federation:
    def __init__(self, bootstrap: str, database: Callable[[str], Awaitable[str]], prefix: str):
        self.bootstrap = bootstrap
        self.database = database
        self.prefix = prefix
        self.nodes: dict[str, RunningNode] = {}
        self._contexts: list[Any] = []
        self._clients: list[httpx.AsyncClient] = []
        self.monitor_nodes: list[Any] = []
        self.monitor_apps: list[Any] = []  # their ASGI apps, to serve over HTTP (tests/web/conftest.py)
        # The federation's agreements key: every node trusts it, and signs what it publishes with it.
        self.agreement_signing_key, self.agreement_keys = new_agreement_key(f"{prefix}-agreements")

    async def start(self, *counties: str, **overrides: Any) -> RunningNode:
        name = "-".join(counties)
        overrides.setdefault("payload_keys", f"t1:{new_key()}")  # payloads sealed at rest, a key per node and run
        overrides.setdefault("agreement_keys", self.agreement_keys)
        overrides.setdefault("agreement_signing_key", self.agreement_signing_key)
        key = test_key()
        settings = Settings(
            bootstrap_key=key,
            node_id=f"{self.prefix}-{name}",
            counties=counties,
            database_url=await self.database(name),
            kafka_bootstrap_servers=self.bootstrap,
            topic_prefix=self.prefix,
            relay_idle_seconds=0.2,
            **overrides,
        )
        app = create_app(settings)
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        self._contexts.append(context)
        transport = httpx.ASGITransport(app=app)
        client = NodeClient("http://node.test", api_key=key, transport=transport)
        running = RunningNode(settings, app.state.node, client, client.http, app)
        for county in counties:
            self.nodes[county] = running
        await eventually(lambda: running.node.broker_connected, what=f"node {name} connected to Kafka")
        return running

    async def start_monitor(self, *scope: str, **overrides: Any) -> httpx.AsyncClient:
        """A monitor for the given provinces (or "all"), on its own database."""
        key = test_key()
        settings = Settings(
            bootstrap_key=key,
            node_id=f"{self.prefix}-monitor", role="monitor", monitor_scope=scope,
            database_url=await self.database("monitor-" + "-".join(scope)),
            kafka_bootstrap_servers=self.bootstrap, topic_prefix=self.prefix,
            **overrides,
        )
        app = create_app(settings)
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        self._contexts.append(context)
        client = httpx.AsyncClient(base_url="http://monitor.test", transport=httpx.ASGITransport(app=app),
                                   headers={"Authorization": f"Bearer {key}"})
        self._clients.append(client)
        self.monitor_nodes.append(app.state.node)
        self.monitor_apps.append(app)
        await eventually(lambda: app.state.node.feed is not None, what="the monitor connected to Kafka")
        return client

    async def stop(self) -> None:
        for client in self._clients:
            await client.aclose()
        for running in {id(n): n for n in self.nodes.values()}.values():
            await running.client.aclose()
        for context in reversed(self._contexts):
            await context.__aexit__(None, None, None)

    async def topic_end_offsets(self) -> dict[str, int]:
        """Total records in every topic of this federation (to prove a refusal published nothing)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            topics = [t for t in await consumer.topics() if t.startswith(self.prefix + ".")]
            partitions = [tp for t in topics for tp in _partitions(consumer, t)]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            totals: dict[str, int] = {}
            for tp, end in ends.items():
                totals[tp.topic] = totals.get(tp.topic, 0) + end
            return totals
        finally:
            await consumer.stop()


def _partitions(consumer: AIOKafkaConsumer, topic: str):  # noqa: ANN202
    from aiokafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def test_key() -> str:
    """An API key in the node's format, registered by the node at start-up (MPX_BOOTSTRAP_KEY)."""
    return f"mpx_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}"


async def eventually(predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def in_inbox(node: RunningNode, message_id: str) -> bool:
    """The message is in the node's inbox (as its local system would read it)."""
    return any(item["id"] == message_id for item in await node.client.inbox_all())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def federation(
    request: pytest.FixtureRequest, database_kind: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Federation]:
    if database_kind == "postgresql":
        make_database = request.getfixturevalue("make_postgres_database")

        async def database(name: str) -> str:
            return await asyncio.to_thread(make_database)
    else:
        async def database(name: str) -> str:
            return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"

    fed = Federation(kafka_bootstrap, database, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        yield fed
    finally:
        await fed.stop()
