"""The security scenarios run on the integration suite's federations (real Kafka, SQLite and PostgreSQL)."""

from tests.integration.conftest import database_kind, federation  # noqa: F401 - fixtures
