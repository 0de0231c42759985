"""The attack scenarios run on the integration suite's federations of real nodes (real Kafka, SQLite/PostgreSQL)."""

from tests.integration.conftest import database_kind, federation  # noqa: F401  (fixtures)
