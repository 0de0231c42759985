"""Nodes reach a broker that demands SCRAM logins over TLS, and a node with a wrong password gets nowhere.

A broker of its own (the `secure_kafka` fixture): SASL_SSL and SASL_PLAINTEXT listeners with
SCRAM users, a certificate signed by a throwaway CA. No mock: real Apache Kafka checks the logins.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from infra import SecureKafka
from sqlalchemy import func, select

from contracts import MessageType
from exchange.adapters.kafka.admin import TopicProvisioner
from exchange.adapters.kafka.connection import client_options
from exchange.adapters.sql.tables import monitor_obligations
from exchange.bootstrap import MonitorNode
from exchange.config import Settings
from exchange.entrypoints.http.app import create_app
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message


def over_tls(secure: SecureKafka, user: str, **extra: Any) -> dict[str, Any]:
    """Settings of a node logging in as `user` on the SASL_SSL listener, trusting the broker's CA."""
    return {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": user, "kafka_sasl_password": secure.users[user],
            "kafka_ssl_cafile": secure.cafile, **extra}


@pytest.fixture
async def secure_federation(secure_kafka: SecureKafka, tmp_path: Path) -> AsyncIterator[Federation]:
    async def database(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"

    fed = Federation(secure_kafka.sasl_ssl, database, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        yield fed
    finally:
        await fed.stop()


async def test_two_counties_exchange_a_record_over_sasl_ssl_with_scram(secure_federation: Federation,
                                                                      secure_kafka: SecureKafka, tmp_path: Path):
    hui = await secure_federation.start(HUI, **over_tls(secure_kafka, "hui-node"))
    haishu = await secure_federation.start(HAISHU, **over_tls(secure_kafka, "haishu-node"))
    # A monitor on the other listener and mechanism: SASL_PLAINTEXT, SCRAM-SHA-256.
    monitor = MonitorNode(Settings(
        node_id=f"{secure_federation.prefix}-monitor", role="monitor", topic_prefix=secure_federation.prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}",
        kafka_bootstrap_servers=secure_kafka.sasl_plaintext, kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="haishu-node",
        kafka_sasl_password=secure_kafka.users["haishu-node"]))
    await monitor.start()
    try:
        sent_id = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))

        inbox = await eventually(lambda: haishu.client.inbox_all(), what="the record at 330203, over SASL_SSL")
        assert [item["id"] for item in inbox] == [sent_id]
        await haishu.client.answer(sent_id, feedback("confirmed"))
        answered = await eventually(lambda: _state_is(hui, sent_id, "answered"), what="the feedback back at 621227")
        assert answered["feedback"][0]["data"]["status"] == "confirmed"

        assert (await hui.http.get("/readyz")).json() == {"status": "ready", "database": True, "broker": True,
                                                          "stopped": []}
        await eventually(lambda: _monitored(monitor), what="the monitor to see the obligation, over SASL_PLAINTEXT")
    finally:
        await monitor.stop()


async def test_a_node_with_a_wrong_password_does_not_connect_and_never_logs_it(
        secure_kafka: SecureKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="aiokafka")  # even aiokafka's request tracing must not show it
    wrong = "wrong-Zt5kW3qa"
    settings = Settings(
        node_id=f"t{uuid.uuid4().hex[:10]}-intruder", counties=(HUI,), topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'intruder.db'}",
        **over_tls(secure_kafka, "hui-node", kafka_sasl_password=wrong, kafka_bootstrap_servers=secure_kafka.sasl_ssl))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node.test") as http:
            await eventually(lambda: _refused_twice(caplog), what="two refused login attempts")
            ready = await http.get("/readyz")

    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "database": True, "broker": False, "stopped": []}
    assert not app.state.node.broker_connected
    lines = [record.getMessage() for record in caplog.records]
    assert any("invalid credentials" in line for line in lines)  # the operator learns why
    assert any("(SASL_SSL SCRAM-SHA-512 as hui-node) not reachable" in line for line in lines)
    assert not any(wrong in line for line in lines)
    assert wrong not in caplog.text


async def test_producer_consumer_and_admin_work_only_with_the_right_login_and_ca(secure_kafka: SecureKafka):
    good = client_options(Settings(kafka_bootstrap_servers=secure_kafka.sasl_ssl,
                                   **over_tls(secure_kafka, "haishu-node")))
    topic = f"t{uuid.uuid4().hex[:10]}.probe"
    await TopicProvisioner(good, 1, 1).ensure({topic})
    producer = AIOKafkaProducer(**good, acks="all")
    consumer = AIOKafkaConsumer(**good, enable_auto_commit=False, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"over TLS, logged in")
        consumer.assign([TopicPartition(topic, 0)])
        batch = await consumer.getmany(timeout_ms=10_000)
        assert [r.value for records in batch.values() for r in records] == [b"over TLS, logged in"]
    finally:
        await producer.stop()
        await consumer.stop()

    without_ca = Settings(kafka_bootstrap_servers=secure_kafka.sasl_ssl,
                          **over_tls(secure_kafka, "haishu-node", kafka_ssl_cafile=None))
    wrong_password = Settings(kafka_bootstrap_servers=secure_kafka.sasl_ssl,
                              **over_tls(secure_kafka, "haishu-node", kafka_sasl_password="not-the-password"))
    no_login = Settings(kafka_bootstrap_servers=secure_kafka.sasl_plaintext)  # PLAINTEXT to the SASL port
    for refused in (without_ca, wrong_password):
        with pytest.raises(KafkaConnectionError):
            await TopicProvisioner(client_options(refused), 1, 1).ensure({topic + ".refused"})
    producer = AIOKafkaProducer(**client_options(no_login), request_timeout_ms=3000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def _state_is(node, message_id: str, state: str) -> dict | None:  # noqa: ANN001
    view = await node.client.message(message_id)
    return view if view["state"] == state else None


async def _monitored(monitor: MonitorNode) -> bool:
    async with monitor.engine.connect() as conn:
        return bool(await conn.scalar(select(func.count()).select_from(monitor_obligations)))


def _refused_twice(caplog: pytest.LogCaptureFixture) -> bool:
    return sum("not reachable" in record.getMessage() for record in caplog.records) >= 2
