"""What every benchmark needs: the machine and versions, node processes, memory readings, payloads, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var" / "bench"
PYTHON = sys.executable

#: BENCH_SCALE=small (default, a few minutes on 2 cores) or full (the issue's sizes: 10 million obligations,
#: longer ingest and end-to-end runs).
SCALE = os.environ.get("BENCH_SCALE", "small").strip().lower() or "small"
if SCALE not in ("small", "full"):
    raise SystemExit(f"BENCH_SCALE must be small or full, not {SCALE!r}")
FULL = SCALE == "full"

#: Sent as `Authorization: Bearer` on every request and registered on the nodes, so the benchmark keeps
#: working once the API requires keys (harmless before).
API_KEY = "mpx_benchkey0001_" + "b" * 43
ADMIN_TOKEN = "bench-admin-token"


# ------------------------------------------------------------------------------------------------
# machine, versions
# ------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "hostname": socket.gethostname(),
    }


PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "pydantic-core", "sqlalchemy", "asyncpg", "aiosqlite",
            "aiokafka", "orjson", "httpx", "uvloop", "httptools", "python-stdnum", "holidays", "alembic")


def versions(kafka_version: str | None, postgres_version: str | None) -> dict[str, Any]:
    pkgs = {}
    for name in PACKAGES:
        try:
            pkgs[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pkgs[name] = None
    import sqlite3

    return {"python": platform.python_version(), "kafka": kafka_version, "postgresql": postgres_version,
            "sqlite": sqlite3.sqlite_version, "packages": pkgs}


def cpu_baseline(seconds: float = 1.0) -> float:
    """A plain-Python yardstick (JSON round trips of a 1 KB record per second, one core), to compare machines."""
    record = {"id": "x" * 36, "data": {"k%d" % i: "值" * 10 + str(i) for i in range(30)}}
    import json

    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            json.loads(json.dumps(record, ensure_ascii=False))
        n += 200
    return n / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(p/100 x n))."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, digits)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# memory
# ------------------------------------------------------------------------------------------------
def rss_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"VmRSS:\s+(\d+)\s+kB", text)
    return round(int(m.group(1)) / 1024, 1) if m else None


def hwm_mib(pid: int) -> float | None:
    try:
        m = re.search(r"VmHWM:\s+(\d+)\s+kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return round(int(m.group(1)) / 1024, 1) if m else None


def _processes() -> dict[int, tuple[str, int, float]]:
    """Every process: command name, parent pid, user + system CPU seconds so far."""
    found = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = path.read_text()
            fields = text.rsplit(")", 1)[1].split()
            found[int(path.parent.name)] = (text[text.index("(") + 1:text.rindex(")")], int(fields[1]),
                                            (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return found


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds the process and its running descendants (a node split into processes) used so far."""
    found = _processes()
    if pid not in found:
        return None
    tree = {pid}
    while more := {p for p, (_, parent, _) in found.items() if parent in tree} - tree:
        tree |= more
    return sum(found[p][2] for p in tree)


def cpu_of(*commands: str) -> dict[str, float]:
    """CPU seconds used so far by the running processes of each command name (postgres, java: Kafka)."""
    totals = dict.fromkeys(commands, 0.0)
    for command, _, seconds in _processes().values():
        if command in totals:
            totals[command] += seconds
    return totals


class RssSampler:
    """Samples a process's RSS every `interval` seconds while running (as a task)."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            value = rss_mib(self.pid)
            if value is not None:
                self.samples.append(value)
            await asyncio.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()

    def summary(self) -> dict[str, float | None]:
        return {"rss_peak_mib": max(self.samples) if self.samples else None,
                "rss_mean_mib": round(sum(self.samples) / len(self.samples), 1) if self.samples else None}


# ------------------------------------------------------------------------------------------------
# node processes
# ------------------------------------------------------------------------------------------------
def sqlite_url(name: str) -> str:
    """A fresh SQLite database under var/bench/db (a previous run's removed)."""
    path = VAR / "db" / f"{name}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{name}.db*"):
        old.unlink()
    return f"sqlite+aiosqlite:///{path}"


@dataclass
class NodeProcess:
    """One node as production runs it: `python -m exchange.entrypoints.cli node` (uvicorn), configured by environment."""

    name: str
    counties: list[str]
    database_url: str
    bootstrap: str
    prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    #: HTTP workers beside one background process (`mpx node --http-workers N`); 0: one process does everything.
    http_workers: int = 0
    proc: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.port = self.port or free_port()
        VAR.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MPX_")},
            "MPX_NODE_ID": self.name,
            "MPX_COUNTIES": ",".join(self.counties),
            "MPX_PORT": str(self.port),
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "MPX_TOPIC_PREFIX": self.prefix,
            "MPX_LOG_LEVEL": "WARNING",
            "MPX_ADMIN_TOKEN": ADMIN_TOKEN,
            "MPX_BOOTSTRAP_KEY": API_KEY,
            "MPX_RATE_LIMIT_PER_MINUTE": "0",
            "MPX_RECONCILE_AT": "",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        log = open(VAR / f"node-{self.name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.started_at = time.monotonic()
        split = ["--http-workers", str(self.http_workers), "--background-port", str(free_port())] \
            if self.http_workers else []
        self.proc = subprocess.Popen([PYTHON, "-m", "exchange.entrypoints.cli", "node", *split], cwd=REPO, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    async def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from start() until GET /readyz answers 200 (database and broker reachable)."""
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() - self.started_at < timeout:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited with {self.proc.returncode}: "
                                       f"see {VAR / f'node-{self.name}.log'}\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return time.monotonic() - self.started_at
                await asyncio.sleep(0.05)
        raise RuntimeError(f"node {self.name} not ready after {timeout}s\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((VAR / f"node-{self.name}.log").read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_py_spy(pid: int, output: Path, rate: int = 199) -> subprocess.Popen | None:
    """py-spy recording `pid` into collapsed stacks at `output` until stop_py_spy (None if py-spy is missing)."""
    exe = Path(PYTHON).parent / "py-spy"
    if not exe.exists():
        return None
    output.unlink(missing_ok=True)
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                             "--output", str(output), "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop_py_spy(spy: subprocess.Popen | None) -> None:
    if spy is None:
        return
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()


def client(base_url: str, timeout: float = 120.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, headers={"authorization": f"Bearer {API_KEY}"},
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))


async def post_batch(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    """POST /v1/messages/batch; once more on a dropped keep-alive connection (client ids make it idempotent)."""
    for attempt in (1, 2):
        try:
            return await http.post("/v1/messages/batch", content=body, headers={"content-type": "application/json"})
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------
# messages
# ------------------------------------------------------------------------------------------------
PAYLOAD_BYTES = 1024
_BASE_TYPES = ("outflow_registration", "pregnancy_check", "birth", "return_cancellation")


def padded_payload(message_type: str, seed: int, registration: str = "621227", residence: str = "330203",
                   size: int = PAYLOAD_BYTES) -> dict[str, Any]:
    """A valid payload of about `size` bytes of JSON: the example payload with its remarks filled up."""
    from contracts.examples import example_payload

    data = example_payload(message_type, seed=seed, registration_region=registration, residence_region=residence)
    data.pop("remarks", None)
    room = size - len(orjson.dumps(data)) - len(b',"remarks":""')
    if room > 0:
        text = ("备注" * 200)[: room // 3] + "x" * (room % 3)  # 3 bytes a character in UTF-8; max 500 chars
        data["remarks"] = text[:500]
    return data


def message_pool(sender: str, receiver: str, count: int = 64) -> list[dict[str, Any]]:
    """`count` different ~1 KB outflow registrations / pregnancy checks / births / returns, sender -> receiver."""
    pool = []
    for seed in range(count):
        kind = _BASE_TYPES[seed % 4]
        registration, residence = (sender, receiver) if kind in ("outflow_registration", "return_cancellation") \
            else (receiver, sender)
        pool.append({"type": kind, "receiver": receiver,
                     "data": padded_payload(kind, seed, _example_region(registration), _example_region(residence))})
    return pool


def _example_region(code: str) -> str:
    """The example generator knows three counties' towns; others borrow Haishu's addresses (valid anyway)."""
    return code if code in ("621227", "542526", "330203") else "330203"


def batch_bodies(run: str, sender: str | list[str], receivers: list[str], total: int, batch: int,
                 pool_size: int = 64) -> list[bytes]:
    """Pre-serialized POST /v1/messages/batch bodies with unique client ids (so repeats stay idempotent)."""
    senders = [sender] if isinstance(sender, str) else sender
    pools = {r: message_pool("621227", r, pool_size) for r in dict.fromkeys(receivers)}
    bodies, n = [], 0
    while n < total:
        items = []
        for _ in range(min(batch, total - n)):
            receiver = receivers[n % len(receivers)]
            item = dict(pools[receiver][n % pool_size])
            item["id"] = f"{run}-{n:08d}"
            item["sender"] = senders[n % len(senders)]
            items.append(item)
            n += 1
        bodies.append(orjson.dumps({"messages": items}))
    return bodies


def kafka_records(bodies: list[bytes], topic_prefix: str, partitions: int = 8) -> list[tuple[str, int, bytes, bytes, list]]:
    """The Kafka records a node would publish for these bodies: (topic, partition, key, value, headers)."""
    from datetime import UTC, datetime

    from contracts import MessageType, validate_payload
    from contracts.cloudevents import encode_data, to_headers
    from exchange.adapters.kafka.topics import TopicScheme
    from exchange.domain.message import new_envelope

    topics = TopicScheme(topic_prefix, partitions)
    now = datetime.now(UTC)
    out = []
    for body in bodies:
        for item in orjson.loads(body)["messages"]:
            mt = MessageType(item["type"])
            env = new_envelope(message_type=mt, schema_version="1.0", sender=item["sender"], receiver=item["receiver"],
                               now=now, message_id=item["id"])
            data = validate_payload(mt, "1.0", item["data"]).model_dump(mode="json", exclude_none=True)
            topic, partition = topics.address(item["receiver"])
            out.append((topic, partition, item["receiver"].encode(), encode_data(data), to_headers(env)))
    return out


def producer_settings() -> dict[str, Any]:
    """The node's own producer settings (exchange/bootstrap.py), for the raw-producer baseline."""
    return {"enable_idempotence": True, "acks": "all", "linger_ms": 5, "max_batch_size": 256 * 1024}


def json_default(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, Path):
        return str(value)
    raise TypeError


def run_sync(cmd: list[str], timeout: float = 30) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
