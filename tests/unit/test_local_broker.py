"""Which broker `make run` starts: Apache Kafka where Java is, the embedded one where it is not or Kafka fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exchange.entrypoints import local_broker
from exchange.entrypoints.local_broker import Choice, LocalBroker, start_local_broker


@dataclass
class Machine:
    """Java installed or not; kafka.sh able to start Apache Kafka or not; which brokers were started."""

    java: bool = True
    kafka_starts: bool = True
    started: list[str] = field(default_factory=list)

    def apache_kafka(self, var: Path) -> LocalBroker:
        self.started.append("kafka")
        if not self.kafka_starts:
            raise RuntimeError("kafka.sh: no mvn found (install Maven 3.x)")
        return LocalBroker("127.0.0.1:9092", "Apache Kafka", True, lambda: None)

    def embedded(self, var: Path) -> LocalBroker:
        self.started.append("embedded")
        return LocalBroker("127.0.0.1:9093", "Tansu", False, lambda: None)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Machine:
    machine = Machine()
    monkeypatch.setattr(local_broker, "java_found", lambda: machine.java)
    monkeypatch.setattr(local_broker, "start_apache_kafka", machine.apache_kafka)
    monkeypatch.setattr(local_broker, "start_embedded", machine.embedded)
    return machine


async def test_a_machine_without_java_runs_on_the_embedded_broker(machine, tmp_path):
    machine.java = False
    broker = await start_local_broker(tmp_path, Choice.auto, print)
    assert machine.started == ["embedded"] and not broker.idempotent


async def test_a_machine_with_java_runs_on_apache_kafka(machine, tmp_path):
    broker = await start_local_broker(tmp_path, Choice.auto, print)
    assert machine.started == ["kafka"] and broker.idempotent


async def test_kafka_that_cannot_start_leaves_the_embedded_broker_unless_kafka_was_asked_for(machine, tmp_path):
    machine.kafka_starts = False
    said: list[str] = []
    broker = await start_local_broker(tmp_path, Choice.auto, said.append)
    assert machine.started == ["kafka", "embedded"] and broker.name == "Tansu" and "no mvn found" in said[-1]
    with pytest.raises(RuntimeError):
        await start_local_broker(tmp_path, Choice.kafka, said.append)


async def test_the_embedded_broker_can_be_chosen_where_java_is(machine, tmp_path):
    await start_local_broker(tmp_path, Choice.embedded, print)
    assert machine.started == ["embedded"]
