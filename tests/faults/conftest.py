"""Fault scenarios: nodes as real processes (``python -m exchange.entrypoints.cli node``), killed and restarted.

Fixtures
    spawn_node     (function) ``spawn_node(name, counties, database_url, *, prefix, bootstrap, args, **env)
                   -> NodeProcess`` (args: of `mpx node`);
                   every process started is SIGKILLed in the finalizer if still alive (and dies with pytest:
                   PR_SET_PDEATHSIG).
    pg_database    (function) ``pg_database() -> url``: a new empty PostgreSQL database.
    prefix         (function) a topic prefix of its own for the test.
Helpers
    RestartableKafka   a dedicated broker that can be stopped and started again on the same port, keeping its data.
    topic_records      every record of one partition, from the beginning.
    db_scalar          one value from a node's database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import infra
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from contracts import MessageType
from contracts.examples import example_payload
from exchange.entrypoints.processes import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]
HUI, HAISHU = "621227", "330203"
ADMIN_TOKEN = "fault-suite-admin"
#: The local case system's API key every node registers at start-up (MPX_BOOTSTRAP_KEY): what posts messages.
SYSTEM_KEY = "mpx_faultsuite_" + "s3cr3t-for-the-fault-suite-only"
AUTH = {"Authorization": f"Bearer {SYSTEM_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the parent (pytest) dies, whatever way it dies."""
    die_with_parent(signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NodeProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen | None = None
    starts: int = 0
    args: tuple[str, ...] = ()  # of `mpx node`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NodeProcess:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already runs"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exchange.entrypoints.cli", "node", *self.args], env=self.env, cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        log.close()
        self.starts += 1
        return self

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /readyz says database and broker are there (the consumer and relay run then)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM, as an orchestrator stops a node; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name} did not stop within {timeout:.0f}s of SIGTERM:\n{self.log_tail()}")
        return self.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        return infra.tail(self.log_path, lines)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def spawn_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def spawn(name: str, counties: str, database_url: str, *, prefix: str, bootstrap: str,
              port: int | None = None, args: tuple[str, ...] = (), **env: Any) -> NodeProcess:
        port = port or free_port()
        node_env = {
            **os.environ,
            "MPX_NODE_ID": name.split("#")[0],
            "MPX_COUNTIES": counties,
            "MPX_PORT": str(port),
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MPX_TOPIC_PREFIX": prefix,
            "MPX_RELAY_IDLE_SECONDS": "0.2",
            "MPX_RECONCILE_AT": "",
            "MPX_ADMIN_TOKEN": ADMIN_TOKEN,
            "MPX_BOOTSTRAP_KEY": SYSTEM_KEY,
            "MPX_LOG_LEVEL": "INFO",
            **{k.upper(): str(v) for k, v in env.items()},
        }
        node = NodeProcess(name, node_env, tmp_path / f"{name.replace('#', '-')}.log", port, args=args)
        started.append(node)
        return node.start()

    yield spawn
    for node in started:
        node.kill()


@pytest.fixture
def pg_database(make_postgres_database: Callable[..., str]) -> Callable[[], str]:
    return lambda: make_postgres_database("mpx_fault")


@pytest.fixture
def prefix() -> str:
    return f"f{uuid.uuid4().hex[:10]}"


# -- data -----------------------------------------------------------------------------------------------


def outflow(seed: int, message_id: str, sender: str = HUI, receiver: str = HAISHU) -> dict[str, Any]:
    data = example_payload(MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=sender,
                           residence_region=HAISHU)  # the examples know three counties' addresses
    data["destination_region"] = receiver
    return {"id": message_id, "type": "outflow_registration", "sender": sender, "receiver": receiver, "data": data}


async def post_steadily(url: str, tag: str, size: int, every: float, stop: asyncio.Event,
                        answered: Callable[[list[str], httpx.Response], Awaitable[None]]) -> None:
    """Steady traffic: a batch of `size` outflow registrations (ids <tag>-<batch>-<n>) posted every `every` seconds
    until `stop` is set; each answer, with the ids it answers for, goes to `answered`."""
    number = 0
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as client:
        while not stop.is_set():
            batch = [outflow(number * size + n, f"{tag}-{number:04d}-{n:02d}") for n in range(size)]
            await answered([m["id"] for m in batch], await client.post("/v1/messages/batch", json={"messages": batch}))
            number += 1
            await asyncio.sleep(every)


def batches(tag: str, count: int, size: int) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` messages with ids <tag>-<batch>-<n>."""
    return [[outflow(b * size + n, f"{tag}-{b:03d}-{n:04d}") for n in range(size)] for b in range(count)]


# -- looking inside ---------------------------------------------------------------------------------------


async def db_scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql), params)
    finally:
        await engine.dispose()


async def db_column(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.scalars(text(sql), params))
    finally:
        await engine.dispose()


async def topic_records(bootstrap: str, topic: str, partition: int) -> list[Any]:
    """Every record of one partition, from its first offset to its end at the time of the call."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        records: list[Any] = []
        deadline = time.monotonic() + 60
        while (await consumer.position(tp)) < end:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic}/{partition} to offset {end}")
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            records += batch.get(tp, [])
        return [r for r in records if r.offset < end]
    finally:
        await consumer.stop()


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


async def all_delivered(url: str, expected: int) -> bool:
    """The sender holds a delivery receipt for at least `expected` of the messages it sent."""
    delivered = await db_column(url, "SELECT count(*) FROM messages "
                                     "WHERE direction = 'out' AND delivered_at IS NOT NULL")
    return delivered[0] >= expected


async def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll an async or sync predicate until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(every)


# -- a broker that can be stopped and started again --------------------------------------------------------


@dataclass
class RestartableKafka:
    """A dedicated single-node Kafka for one test. stop() ends the JVM (SIGTERM, as an operator would);
    start() runs the same command line again: same port, same log directory, so nothing published is lost.
    (deploy/kafka/kafka.sh start would wipe the data: it makes throwaway brokers.)"""

    workdir: Path
    server: infra.KafkaServer | None = None
    cmdline: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def start_fresh(self) -> str:
        self.server = infra.start_kafka(self.workdir)
        raw = Path(f"/proc/{self.server.pid}/cmdline").read_bytes()
        self.cmdline = [part.decode() for part in raw.split(b"\0") if part]
        return self.server.bootstrap

    @property
    def bootstrap(self) -> str:
        return self.server.bootstrap

    def stop(self) -> None:
        if self.proc is not None:
            infra.terminate_pid(self.proc.pid, grace=30, expect="kafka.Kafka")
            self.proc.wait(10)
            self.proc = None
        elif self.server is not None and self.server.pid is not None:
            self.server.stop(grace=30)

    def start(self) -> None:
        log = open(self.workdir / "logs" / "kafka-restart.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmdline, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        log.close()
        infra.wait_for_kafka(self.bootstrap, timeout=90, alive=lambda: self.proc.poll() is None)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.server is not None:
            self.server.stop(grace=5)


@pytest.fixture
def dedicated_kafka(tmp_path: Path) -> Iterator[RestartableKafka]:
    kafka = RestartableKafka(tmp_path / "kafka")
    try:
        kafka.start_fresh()
    except infra.InfraError as exc:
        pytest.fail(f"a dedicated Kafka broker could not start:\n{exc}", pytrace=False)
    try:
        yield kafka
    finally:
        kafka.close()


@pytest.fixture
async def sqlite_federation(kafka_bootstrap: str, tmp_path: Path):
    """Nodes in this process on SQLite (one process suffices), on the session's Kafka."""
    from tests.integration.conftest import Federation

    async def database(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"

    fed = Federation(kafka_bootstrap, database, prefix=f"f{uuid.uuid4().hex[:10]}")
    try:
        yield fed
    finally:
        await fed.stop()


def partition_of(county: str, partitions: int = 8) -> int:
    from exchange.adapters.kafka.topics import TopicScheme

    return TopicScheme("x", partitions).partition_for(county)
