"""Shared pytest fixtures: real Apache Kafka and PostgreSQL, started once per test session.

Fixtures
    kafka_bootstrap          (session) "127.0.0.1:<port>" of a single-node KRaft Apache Kafka 3.9.
                             Env KAFKA_BOOTSTRAP_SERVERS=host:port uses that broker instead.
    secure_kafka             (session) a second broker of its own, with SCRAM users and SASL_PLAINTEXT and
                             SASL_SSL listeners (infra.SecureKafka); started only by the tests that ask for it.
    postgres_url             (session) "postgresql+asyncpg://postgres@127.0.0.1:<port>/mpx".
                             Env TEST_DATABASE_URL uses that server instead.
    make_postgres_database   (session) callable ``(prefix="mpx_t") -> url``: a new empty database
                             on the postgres_url server, for tests that run several nodes.
    fresh_postgres_url       (function) one new empty database per test.

Helper
    ``from infra import fresh_postgres_database`` -- ``fresh_postgres_database(postgres_url, prefix="mpx_t") -> url``

Infra that cannot start makes the tests ERROR (pytest.fail with the log tail), never skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import infra  # noqa: E402
from infra import InfraError, fresh_postgres_database  # noqa: E402,F401  (re-exported for convenience)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        lines.append(f"kafka: external {os.environ['KAFKA_BOOTSTRAP_SERVERS']}")
    if os.environ.get("TEST_DATABASE_URL"):
        lines.append("postgres: external TEST_DATABASE_URL")
    return lines


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.KafkaServer]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    error = None
    try:
        if external:
            server = infra.external_kafka(external)
        else:
            server = infra.start_kafka(tmp_path_factory.mktemp("kafka"))
    except InfraError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(f"Apache Kafka is not available for the tests:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_server: infra.KafkaServer) -> str:
    return kafka_server.bootstrap


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.SecureKafka]:
    error = None
    try:
        server = infra.start_secure_kafka(tmp_path_factory.mktemp("kafka-sasl"),
                                          users={"hui-node": "hui-9Qp2fX7s", "haishu-node": "haishu-4Lm8vR1k"})
    except InfraError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(f"Apache Kafka with SASL listeners is not available for the tests:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra.PostgresServer]:
    external = os.environ.get("TEST_DATABASE_URL")
    error = None
    try:
        if external:
            server = infra.external_postgres(external)
        else:
            server = infra.start_postgres(tmp_path_factory.mktemp("postgres"))
    except InfraError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(f"PostgreSQL is not available for the tests:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        if server.workdir is None:
            # External server: drop what we created; a local one is thrown away whole.
            for url in server.created:
                try:
                    infra.drop_postgres_database(url, maintenance_url=server.url)
                except Exception:  # noqa: BLE001 - best effort
                    pass
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: infra.PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def make_postgres_database(postgres_server: infra.PostgresServer) -> Callable[..., str]:
    def _make(prefix: str = "mpx_t") -> str:
        url = infra.fresh_postgres_database(postgres_server.url, prefix)
        postgres_server.created.append(url)
        return url

    return _make


@pytest.fixture
def fresh_postgres_url(make_postgres_database: Callable[..., str]) -> str:
    return make_postgres_database()
