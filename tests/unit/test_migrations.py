"""The Alembic migrations build exactly the tables the code declares."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from exchange.adapters.sql.database import migrate
from exchange.adapters.sql.tables import metadata


async def test_migrating_an_empty_database_matches_the_table_definitions(tmp_path):
    path = tmp_path / "node.db"
    await migrate(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
