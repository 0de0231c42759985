"""The security scenarios run against the same real federations as the integration tests (real Kafka, SQLite and
PostgreSQL): their fixtures, shared."""

from tests.integration.conftest import database_kind, federation  # noqa: F401
