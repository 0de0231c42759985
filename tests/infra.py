"""Real test infrastructure: a single-node Apache Kafka (KRaft) and a throwaway PostgreSQL.

Used by the session fixtures in tests/conftest.py; importable from tests as ``import infra``
(tests/ is on sys.path via the rootdir conftest).

Processes are started by the shell scripts in deploy/ (which fetch/install what they need):

    deploy/kafka/kafka.sh start <dir> [port]         -> "127.0.0.1:<port>"
    deploy/postgres/postgres.sh start <dir> [port]   -> "postgresql://postgres@127.0.0.1:<port>/mpx"

Everything here is synchronous and safe to call from inside a running event loop: the few async
checks (aiokafka metadata, asyncpg) run on a private loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"
POSTGRES_SH = REPO_ROOT / "deploy" / "postgres" / "postgres.sh"

T = TypeVar("T")


class InfraError(RuntimeError):
    """A piece of test infrastructure could not be started; the message carries the log tails."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def run_async(factory: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
    """Run ``factory()`` on a fresh event loop in a worker thread and return its result.

    Works whether or not the calling thread already runs an event loop, and never touches the
    calling thread's current loop (pytest-asyncio's session loop stays intact).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="infra") as ex:
        return ex.submit(lambda: asyncio.run(factory())).result(timeout)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    return "\n".join(text[-lines:]) if text else f"({path} is empty)"


def _pid_alive(pid: int, expect: str | None = None) -> bool:
    """True if *pid* runs and is not a zombie (and its command line contains *expect*, if given)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if expect is not None and expect.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False  # exited and the pid was reused
        # a zombie nobody has reaped yet still "exists"
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def terminate_pid(pid: int, grace: float = 10.0, expect: str | None = None) -> None:
    """SIGTERM *pid*, wait up to *grace* seconds, then SIGKILL (only while it still matches *expect*)."""
    if not _pid_alive(pid, expect):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _pid_alive(pid, expect):
            return
        time.sleep(0.1)
    if not _pid_alive(pid, expect):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_script(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# --------------------------------------------------------------------------------------------
# Kafka
# --------------------------------------------------------------------------------------------
@dataclass
class KafkaServer:
    bootstrap: str
    workdir: Path | None = None  # None for an external broker (KAFKA_BOOTSTRAP_SERVERS)
    pid: int | None = None
    started_in: float = 0.0

    def log_tail(self, lines: int = 40) -> str:
        if self.workdir is None:
            return "(external broker, no local log)"
        return (
            f"---- {self.workdir}/logs/server.log\n{tail(self.workdir / 'logs' / 'server.log', lines)}\n"
            f"---- {self.workdir}/logs/kafka.out\n{tail(self.workdir / 'logs' / 'kafka.out', lines)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        if self.pid is not None:
            terminate_pid(self.pid, grace, expect="kafka.Kafka")
            self.pid = None


def kafka_metadata(bootstrap: str, timeout: float = 5.0) -> list[Any]:
    """Fetch cluster metadata with aiokafka; return the broker list (raises on failure)."""

    async def _probe() -> list[Any]:
        from aiokafka import AIOKafkaClient

        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            brokers = list(client.cluster.brokers())
            if not brokers:
                raise InfraError(f"{bootstrap} returned metadata without brokers")
            return brokers
        finally:
            await client.close()

    return run_async(_probe, timeout + 5)


def kafka_api_versions_probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a Kafka broker at host:port answers an ApiVersions v0 request with error_code 0
    (plain socket, no logging -- cheap to poll)."""
    client_id = b"mpx-probe"
    correlation_id = 0x4D5058
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            buf = b""
            while len(buf) < 4:
                chunk = s.recv(4 - len(buf))
                if not chunk:
                    return False
                buf += chunk
            (size,) = struct.unpack(">i", buf)
            if size < 6 or size > 1 << 20:
                return False
            payload = b""
            while len(payload) < size:
                chunk = s.recv(size - len(payload))
                if not chunk:
                    return False
                payload += chunk
    except OSError:
        return False
    corr, error_code = struct.unpack(">ih", payload[:6])
    return corr == correlation_id and error_code == 0


@contextlib.contextmanager
def _quiet_aiokafka() -> Any:
    """aiokafka logs every refused connection at ERROR; keep readiness polling out of test logs."""
    logger = logging.getLogger("aiokafka")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


def wait_for_kafka(bootstrap: str, timeout: float = 30.0, alive: Callable[[], bool] | None = None) -> None:
    """Block until *bootstrap* answers ApiVersions and aiokafka can fetch metadata with >= 1 broker."""
    deadline = time.monotonic() + timeout
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    last: BaseException | str | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise InfraError(f"Kafka process died while waiting for {bootstrap}")
        if not kafka_api_versions_probe(host, int(port)):
            last = "no answer to ApiVersions"
            time.sleep(0.1)
            continue
        try:
            with _quiet_aiokafka():
                kafka_metadata(bootstrap, timeout=min(5.0, max(1.0, deadline - time.monotonic())))
            return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
            time.sleep(0.2)
    raise InfraError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last!r}")


def start_kafka(workdir: Path, port: int | None = None, timeout: float = 90.0,
                env: dict[str, str] | None = None) -> KafkaServer:
    """Start Apache Kafka via deploy/kafka/kafka.sh (fetching it on first use) and wait until it is ready.

    *env* adds kafka.sh options (e.g. KAFKA_SASL_USERS). The broker is killed by a watchdog if this
    process dies without calling ``stop()``. Raises InfraError with the log tail on failure.
    """
    t0 = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["bash", str(KAFKA_SH), "start", str(workdir)] + ([str(port)] if port else [])
    try:
        # First use downloads ~46 MB of jars with Maven: allow for a slow mirror.
        proc = _run_script(cmd, timeout=timeout + 300, env={**(env or {}), "KAFKA_WATCH_PID": str(os.getpid()),
                                                            "KAFKA_START_TIMEOUT": str(int(timeout))})
    except subprocess.TimeoutExpired as exc:
        _kill_from_pidfile(workdir / "kafka.pid")
        raise InfraError(f"{' '.join(cmd)} timed out\n{exc.stderr or ''}") from exc
    pid = _read_pid(workdir / "kafka.pid")
    server = KafkaServer(bootstrap="", workdir=workdir, pid=pid)
    if proc.returncode != 0:
        server.stop(grace=2)
        raise InfraError(
            f"Apache Kafka did not start ({' '.join(cmd)} exited {proc.returncode})\n"
            f"---- script stderr\n{proc.stderr[-4000:]}\n{server.log_tail()}"
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines or not re.fullmatch(r"[\w.\-]+:\d+", lines[-1].strip()):
        server.stop(grace=2)
        raise InfraError(f"kafka.sh printed no bootstrap address: {proc.stdout!r}\n{proc.stderr[-2000:]}")
    server.bootstrap = lines[-1].strip()
    try:
        remaining = max(10.0, timeout - (time.monotonic() - t0))
        wait_for_kafka(server.bootstrap, remaining, alive=lambda: pid is None or _pid_alive(pid, "kafka.Kafka"))
    except InfraError as exc:
        log = server.log_tail()
        server.stop(grace=2)
        raise InfraError(f"{exc}\n{log}") from exc
    server.started_in = time.monotonic() - t0
    return server


@dataclass
class SecureKafka:
    """A broker with SASL listeners beside its PLAINTEXT one (kafka.sh KAFKA_SASL_USERS, KAFKA_SASL_SSL=1)."""

    server: KafkaServer
    sasl_plaintext: str  # host:port of the SASL_PLAINTEXT listener (SCRAM-SHA-512/256)
    sasl_ssl: str  # host:port of the SASL_SSL listener, certificate for 127.0.0.1
    cafile: Path  # the CA that signed the broker's certificate
    users: dict[str, str]  # SCRAM user -> password

    def stop(self) -> None:
        self.server.stop()


def start_secure_kafka(workdir: Path, users: dict[str, str], timeout: float = 90.0) -> SecureKafka:
    """Start a broker of its own with SCRAM users and a SASL_SSL listener (throwaway CA); raises InfraError."""
    env = {"KAFKA_SASL_USERS": ",".join(f"{name}:{password}" for name, password in users.items()),
           "KAFKA_SASL_SSL": "1"}
    server = start_kafka(workdir, timeout=timeout, env=env)
    try:
        return SecureKafka(server, (workdir / "bootstrap-sasl").read_text().strip(),
                           (workdir / "bootstrap-sasl-ssl").read_text().strip(), workdir / "tls" / "ca.pem", users)
    except OSError as exc:
        server.stop(grace=2)
        raise InfraError(f"kafka.sh started no SASL listeners ({exc})\n{server.log_tail()}") from exc



@dataclass
class KafkaCluster:
    """Brokers started by ``kafka.sh cluster``: broker and controller ``<id>`` (1..n) in ``workdir/broker-<id>``."""

    bootstrap: str  # every broker, comma-separated
    workdir: Path

    def pid(self, broker: int) -> int | None:
        return _read_pid(self.workdir / f"broker-{broker}" / "kafka.pid")

    def kill(self, broker: int) -> None:
        """SIGKILL, as a machine that loses power: nothing of the broker's shutdown runs."""
        pid = self.pid(broker)
        if pid is not None and _pid_alive(pid, "kafka.Kafka"):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _pid_alive(pid, "kafka.Kafka") and time.monotonic() < deadline:
                time.sleep(0.05)

    def resume(self, broker: int, timeout: float = 90.0) -> None:
        """Start the broker again on its port, with the data it had (``kafka.sh resume``)."""
        cmd = ["bash", str(KAFKA_SH), "resume", str(self.workdir / f"broker-{broker}")]
        proc = _run_script(cmd, timeout=timeout + 30, env={"KAFKA_WATCH_PID": str(os.getpid()),
                                                           "KAFKA_START_TIMEOUT": str(int(timeout))})
        if proc.returncode != 0:
            raise InfraError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr[-4000:]}\n{self.log_tail(broker)}")

    def log_tail(self, broker: int, lines: int = 40) -> str:
        return f"---- broker {broker}\n{tail(self.workdir / f'broker-{broker}' / 'logs' / 'server.log', lines)}"

    def stop(self) -> None:
        # Throwaway brokers: a short grace (the last of a cluster may wait for a controller quorum already gone).
        _run_script(["bash", str(KAFKA_SH), "stop", str(self.workdir)], timeout=60, env={"KAFKA_STOP_GRACE": "3"})


def start_kafka_cluster(workdir: Path, brokers: int = 3, timeout: float = 120.0) -> KafkaCluster:
    """Start ``kafka.sh cluster`` (killed by watchdogs if this process dies) and wait until every broker is in the
    metadata; raises InfraError with the log tails."""
    workdir = Path(workdir)
    cmd = ["bash", str(KAFKA_SH), "cluster", str(workdir), str(brokers)]
    cluster = KafkaCluster(bootstrap="", workdir=workdir)
    try:
        proc = _run_script(cmd, timeout=timeout + 300, env={"KAFKA_WATCH_PID": str(os.getpid()),
                                                            "KAFKA_START_TIMEOUT": str(int(timeout))})
    except subprocess.TimeoutExpired as exc:
        cluster.stop()
        raise InfraError(f"{' '.join(cmd)} timed out\n{exc.stderr or ''}") from exc
    logs = "\n".join(cluster.log_tail(b) for b in range(1, brokers + 1))
    if proc.returncode != 0:
        cluster.stop()
        raise InfraError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr[-4000:]}\n{logs}")
    cluster.bootstrap = proc.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _quiet_aiokafka():
                if len(kafka_metadata(cluster.bootstrap)) == brokers:
                    return cluster
        except Exception as exc:  # noqa: BLE001 - polled until the deadline
            last: object = exc
        else:
            last = "not every broker in the metadata yet"
        if time.monotonic() > deadline:
            cluster.stop()
            raise InfraError(f"the cluster at {cluster.bootstrap} was not whole after {timeout:.0f}s: {last!r}\n{logs}")
        time.sleep(0.5)

def external_kafka(bootstrap: str, timeout: float = 30.0) -> KafkaServer:
    """Use an already running broker (e.g. KAFKA_BOOTSTRAP_SERVERS); only checks it answers."""
    wait_for_kafka(bootstrap.split(",")[0].strip(), timeout)
    return KafkaServer(bootstrap=bootstrap)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _kill_from_pidfile(path: Path) -> None:
    pid = _read_pid(path)
    if pid is not None:
        terminate_pid(pid, grace=2, expect="kafka.Kafka")


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------
def to_async_url(url: str) -> str:
    """postgresql://... / postgres://... -> postgresql+asyncpg://... (SQLAlchemy async URL)."""
    return re.sub(r"^(postgresql|postgres)(\+\w+)?://", "postgresql+asyncpg://", url)


def _asyncpg_kwargs(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    u = make_url(to_async_url(url))
    kwargs: dict[str, Any] = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "database": u.database or "postgres",
    }
    if u.password:
        kwargs["password"] = u.password
    return kwargs


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(to_async_url(url)).set(database=database).render_as_string(hide_password=False)


async def create_postgres_database(postgres_url: str, prefix: str = "mpx_t") -> str:
    """Async: CREATE DATABASE <prefix>_<random> on the server of *postgres_url*; return its async URL."""
    import asyncpg

    name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(**_asyncpg_kwargs(postgres_url), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(postgres_url, name)


def fresh_postgres_database(postgres_url: str, prefix: str = "mpx_t") -> str:
    """Create a new, uniquely named database on the server of *postgres_url* and return its
    ``postgresql+asyncpg://`` URL. Sync; callable from sync or async code (runs in a worker thread)."""
    return run_async(lambda: create_postgres_database(postgres_url, prefix), timeout=30)


def drop_postgres_database(url: str, maintenance_url: str | None = None) -> None:
    """DROP DATABASE ... WITH (FORCE) for the database named in *url* (sync). The statement is
    issued through *maintenance_url* (default: the same server's ``postgres`` database)."""
    import asyncpg

    name = _asyncpg_kwargs(url)["database"]
    via = _asyncpg_kwargs(maintenance_url) if maintenance_url else {**_asyncpg_kwargs(url), "database": "postgres"}
    if via["database"] == name:
        via["database"] = "postgres"

    async def _drop() -> None:
        conn = await asyncpg.connect(**via, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_async(_drop, timeout=30)


def wait_for_postgres(url: str, timeout: float = 30.0) -> None:
    import asyncpg

    kwargs = _asyncpg_kwargs(url)

    async def _probe() -> None:
        conn = await asyncpg.connect(**kwargs, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            run_async(_probe, timeout=15)
            return
        except Exception as exc:  # noqa: BLE001
            last = exc
            time.sleep(0.2)
    raise InfraError(f"PostgreSQL at {kwargs['host']}:{kwargs['port']} not reachable after {timeout:.0f}s: {last!r}")


@dataclass
class PostgresServer:
    url: str  # postgresql+asyncpg://postgres@127.0.0.1:<port>/mpx
    workdir: Path | None = None  # None for an external server (TEST_DATABASE_URL)
    started_in: float = 0.0
    created: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        """libpq-style URL (postgresql://...) for psql/asyncpg."""
        return re.sub(r"^postgresql\+asyncpg://", "postgresql://", self.url)

    def log_tail(self, lines: int = 40) -> str:
        if self.workdir is None:
            return "(external server, no local log)"
        return f"---- {self.workdir}/postgres.log\n{tail(self.workdir / 'postgres.log', lines)}"

    def stop(self) -> None:
        if self.workdir is not None:
            _run_script(["bash", str(POSTGRES_SH), "stop", str(self.workdir)], timeout=60)


def start_postgres(workdir: Path, port: int | None = None, timeout: float = 120.0) -> PostgresServer:
    """Start a throwaway PostgreSQL via deploy/postgres/postgres.sh with database ``mpx``.

    Raises InfraError with the log tail on failure.
    """
    t0 = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["bash", str(POSTGRES_SH), "start", str(workdir)] + ([str(port)] if port else [])
    server = PostgresServer(url="", workdir=workdir)
    try:
        # May apt-get install postgresql on a bare machine: generous timeout.
        proc = _run_script(cmd, timeout=timeout + 600, env={"POSTGRES_WATCH_PID": str(os.getpid())})
    except subprocess.TimeoutExpired as exc:
        server.stop()
        raise InfraError(f"{' '.join(cmd)} timed out\n{exc.stderr or ''}\n{server.log_tail()}") from exc
    if proc.returncode != 0:
        server.stop()
        raise InfraError(
            f"PostgreSQL did not start ({' '.join(cmd)} exited {proc.returncode})\n"
            f"---- script stderr\n{proc.stderr[-4000:]}\n{server.log_tail()}"
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines or not lines[-1].startswith("postgresql://"):
        server.stop()
        raise InfraError(f"postgres.sh printed no URL: {proc.stdout!r}\n{proc.stderr[-2000:]}")
    server.url = to_async_url(lines[-1].strip())
    try:
        wait_for_postgres(server.url, timeout=30)
    except InfraError as exc:
        log = server.log_tail()
        server.stop()
        raise InfraError(f"{exc}\n{log}") from exc
    server.started_in = time.monotonic() - t0
    return server


def external_postgres(url: str) -> PostgresServer:
    """Use an existing server (TEST_DATABASE_URL); only checks it answers."""
    server = PostgresServer(url=to_async_url(url))
    wait_for_postgres(server.url, timeout=30)
    return server
