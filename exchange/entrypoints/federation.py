"""`make run`: several county nodes, each its own process and database, exchanging records.

With no KAFKA_BOOTSTRAP_SERVERS a broker is started for the run (exchange/entrypoints/local_broker.py: Apache Kafka
where Java is, else the embedded Tansu; either keeps records as long as the run). With DATABASE_URL set to
PostgreSQL, each node gets its own database on that server, named after the base database and its county.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from contracts import region_name
from contracts.dates import today_in_china
from exchange.adapters.sql.database import create_engine
from exchange.entrypoints.local_broker import Choice, start_local_broker


@dataclass(frozen=True)
class CountyNode:
    county: str
    role: str  # "registration" or "residence"


#: How the banner names a county's role, in Chinese and English.
ROLES = {"registration": "户籍地 registration county", "residence": "现居住地 residence county"}

DEFAULT_FEDERATION = (
    CountyNode("621227", "registration"),  # 徽县, Gansu
    CountyNode("542526", "registration"),  # 改则县, Tibet
    CountyNode("330203", "residence"),  # 海曙区, Ningbo
)


def kept_secret(var: Path, name: str, make) -> str:  # noqa: ANN001 - a callable making a new secret
    """A secret made at the first run and kept beside the databases (mode 600), so restarts can use them."""
    path = var / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make() + "\n")
    return path.read_text().strip()


def payload_key(var: Path, county: str) -> str:
    """The node's payload key (MPX_PAYLOAD_KEYS)."""
    from exchange.adapters.crypto.payload_crypto import new_key

    return kept_secret(var, f"payload-key-{county}", lambda: f"run1:{new_key()}")


def agreement_keys(var: Path) -> tuple[str, str]:
    """The federation's agreements key (MPX_AGREEMENT_SIGNING_KEY, MPX_AGREEMENT_KEYS), the same for every node."""
    from exchange.adapters.crypto.signed_agreements import new_agreement_key

    pair = kept_secret(var, "agreement-key", lambda: " ".join(new_agreement_key("run-agreements")))
    signing, trusted = pair.split(" ")
    return signing, trusted


#: Seconds after start a federation's registration counties send the last closed month's rosters (and again each
#: such interval: a month is sent once).
ROSTER_AFTER = 20


def api_key(var: Path, name: str) -> str:
    """The API key of a node's local system (or of the monitor): MPX_BOOTSTRAP_KEY."""
    import secrets

    return kept_secret(var, f"api-key-{name}", lambda: f"mpx_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}")


def demo_person(env: dict[str, str], var: Path, account: str, *args: str) -> str:
    """A person to sign in to a node's pages with (`mpx users add`), its password kept in `var` across runs."""
    import secrets

    password = kept_secret(var, f"password-{account}", lambda: secrets.token_urlsafe(12))
    subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", "users", "add", account, *args,
                    "--password-stdin"], env=env, input=password + "\n", text=True, capture_output=True, check=False)
    return password


async def node_database(base_url: str | None, county: str, var: Path) -> str:
    if not base_url:
        return f"sqlite+aiosqlite:///{var / f'node-{county}.db'}"
    url = make_url(base_url)
    if url.get_backend_name() != "postgresql":
        return f"sqlite+aiosqlite:///{var / f'node-{county}.db'}"
    name = f"{url.database}_{county}"
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def provision_topics(bootstrap: str) -> None:
    """Every topic of the federation, made once before its nodes start.

    Why: when the nodes create the same topics on the embedded broker at once, a node's first record could stall
    for the 40 s of a request timeout before it went out.
    """
    from aiokafka.errors import KafkaError

    from exchange.adapters.kafka.admin import TopicProvisioner
    from exchange.adapters.kafka.connection import client_options
    from exchange.adapters.kafka.topics import TopicScheme
    from exchange.config import Settings

    settings = Settings(kafka_bootstrap_servers=bootstrap)
    topics = TopicScheme(settings.topic_prefix, settings.topic_partitions)
    provisioner = TopicProvisioner(client_options(settings), settings.topic_partitions, settings.topic_replication,
                                   settings.topic_min_insync_replicas)
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while True:  # a broker just started may take a few seconds more to take requests
        try:
            await provisioner.ensure({topics.address(m.county)[0] for m in DEFAULT_FEDERATION}
                                     | {topics.monitor_topic, topics.reminders_topic})
            await provisioner.ensure({topics.agreements_topic, topics.keys_topic}, partitions=1, compacted=True)
            return
        except (KafkaError, OSError):
            if loop.time() > end:
                raise
            await asyncio.sleep(0.5)


async def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < end:
            if process.poll() is not None:
                raise RuntimeError(f"node at {url} exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"node at {url} did not start within {timeout}s")


async def run_federation(
    *, base_port: int = 8101, simulate: bool = False, rate: float = 5.0, duration: float | None = None,
    var: Path = Path("var/run"), broker_choice: Choice = Choice.auto, print_fn=print,  # noqa: ANN001
) -> None:
    var.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not bootstrap:
        broker = await start_local_broker(var, broker_choice, print_fn)
        bootstrap = broker.bootstrap
        print_fn(f"消息服务 broker: {broker.name} at {bootstrap}")
    (var / "bootstrap").write_text(bootstrap + "\n")  # for kcat and other tools: kcat -b $(cat var/run/bootstrap) -L
    processes: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        if broker is not None:
            await provision_topics(bootstrap)
        for index, member in enumerate(DEFAULT_FEDERATION):
            port = base_port + index
            env = {
                **os.environ,
                "MPX_NODE_ID": f"county-{member.county}",
                "MPX_COUNTIES": member.county,
                "MPX_PORT": str(port),
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "DATABASE_URL": await node_database(os.environ.get("DATABASE_URL"), member.county, var),
                "MPX_BOOTSTRAP_KEY": api_key(var, member.county),
                # the monthly roster check (定期清查) of the last closed month, soon after start, then hourly
                "MPX_ROSTER_INTERVAL_SECONDS": os.environ.get("MPX_ROSTER_INTERVAL_SECONDS", str(ROSTER_AFTER)),
            }
            if broker is not None and not broker.idempotent:
                env["MPX_KAFKA_IDEMPOTENT"] = "false"
            if not os.environ.get("MPX_AGREEMENT_KEYS"):
                env["MPX_AGREEMENT_SIGNING_KEY"], env["MPX_AGREEMENT_KEYS"] = agreement_keys(var)
            if not os.environ.get("MPX_PAYLOAD_KEYS"):
                env["MPX_PAYLOAD_KEYS"] = payload_key(var, member.county)
            log = open(var / f"node-{member.county}.log", "ab")  # noqa: SIM115 - closed with the process
            processes.append(
                subprocess.Popen([sys.executable, "-m", "exchange.entrypoints.cli", "node"], env=env, stdout=log, stderr=log)
            )
            urls[member.county] = f"http://127.0.0.1:{port}"
            envs[member.county] = env
        monitor_env = {**os.environ, "MPX_NODE_ID": "monitor-national", "MPX_ROLE": "monitor",
                       "MPX_MONITOR_SCOPE": "all", "MPX_PORT": str(base_port - 1), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                       "DATABASE_URL": await node_database(os.environ.get("DATABASE_URL"), "monitor", var),
                       "MPX_BOOTSTRAP_KEY": api_key(var, "monitor")}
        log = open(var / "monitor.log", "ab")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen([sys.executable, "-m", "exchange.entrypoints.cli", "node"], env=monitor_env, stdout=log, stderr=log)
        )
        monitor_url = f"http://127.0.0.1:{base_port - 1}"
        for url, process in zip([*urls.values(), monitor_url], processes):
            await wait_healthy(url, process)
        for member in DEFAULT_FEDERATION:
            url = urls[member.county]
            account = f"demo-{member.county}"
            password = demo_person(envs[member.county], var, account, "--county", member.county, "--role", "clerk")
            print_fn(f"{member.county} {region_name(member.county)} {ROLES[member.role]}: {url}  "
                     f"文档 docs: {url}/docs  API 密钥 key: {api_key(var, member.county)}")
            print_fn(f"    工作台 workbench: {url}/ui/  办事员 clerk: {account} 密码 password: {password}")
        year = today_in_china().year
        print_fn(f"全国监测 national monitor: {monitor_url}/v1/monitor/timeliness?from={year}-01-01&to={year + 1}-01-01  "
                 f"文档 docs: {monitor_url}/docs  API 密钥 key: {api_key(var, 'monitor')}")
        for province in sorted({member.county[:2] for member in DEFAULT_FEDERATION}):
            account = f"demo-monitor-{province}"
            password = demo_person(monitor_env, var, account, "--province", province, "--role", "monitor")
            print_fn(f"    监测看板 dashboard: {monitor_url}/ui/dashboard  {region_name(province + '0000')} 省级监测 "
                     f"provincial monitor: {account} 密码 password: {password}")
        print_fn(f"日志、数据库和密钥文件 (api-key-<县>) 在 logs, databases and key files (api-key-<county>) in {var}/"
                 " — Ctrl-C 全部停止 stops everything")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        waits = [asyncio.create_task(stop.wait())]
        simulator = None
        if simulate:
            from adapters.simulator import Stats
            from adapters.simulator import simulate as run_simulator

            stats = Stats()
            registration = [m.county for m in DEFAULT_FEDERATION if m.role == "registration"]
            residence = [m.county for m in DEFAULT_FEDERATION if m.role == "residence"]
            keys = {county: api_key(var, county) for county in urls}
            simulator = asyncio.create_task(run_simulator(urls, keys, registration, residence, rate=rate, stats=stats))
            waits.append(simulator)
        if duration:
            waits.append(asyncio.create_task(asyncio.sleep(duration)))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if simulator is not None:
            await asyncio.gather(simulator, return_exceptions=True)
            print_fn(f"模拟器 已发送/已反馈/被拒/出错 simulator: sent {stats.sent}, answered {stats.answered}, "
                     f"refused {stats.refused}, errors {stats.errors}; 撤回 withdrawn {stats.withdrawn}, "
                     f"请求补充说明 clarifications asked {stats.clarifications_asked}, 补充说明 answered "
                     f"{stats.clarified}, 协查进展 verification steps {stats.verification_steps}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        print_fn("已停止 stopped")
