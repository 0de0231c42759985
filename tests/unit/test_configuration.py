"""Every setting is documented in the README's configuration table, under its environment variable."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from exchange.config import Settings
from exchange.entrypoints.cli import app as mpx

README = (Path(__file__).parents[2] / "README.md").read_text()


def environment_variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias.choices[0] if alias is not None else f"MPX_{name.upper()}"


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_the_setting_is_in_the_readme_table(name):
    assert f"| `{environment_variable(name)}` |" in README


def test_counties_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("MPX_COUNTIES", "621227, 542526")
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///x.db")
    settings = Settings()
    assert settings.counties == ("621227", "542526")
    assert settings.database_url == "sqlite+aiosqlite:///x.db"


def test_a_node_cannot_serve_a_code_that_is_not_a_county():
    with pytest.raises(ValidationError):
        Settings(counties=("620000",))
    with pytest.raises(ValidationError):
        Settings(counties=("999999",))


def test_jwts_are_accepted_only_for_a_named_issuer_and_audience():
    url = "https://idp.example/realms/mpx/protocol/openid-connect/certs"
    with pytest.raises(ValidationError):
        Settings(jwt_jwks_url=url)
    with pytest.raises(ValidationError):
        Settings(jwt_jwks_url=url, jwt_issuer="https://idp.example/realms/mpx")
    settings = Settings(jwt_jwks_url=url, jwt_issuer="https://idp.example/realms/mpx", jwt_audience="mpx-exchange")
    assert settings.jwt_audience == "mpx-exchange"


def test_a_cluster_topic_cannot_ask_more_in_sync_replicas_than_it_has():
    with pytest.raises(ValidationError):
        Settings(topic_replication=1, topic_min_insync_replicas=2)
    settings = Settings(topic_replication=3, topic_min_insync_replicas=2)
    assert (settings.topic_replication, settings.topic_min_insync_replicas) == (3, 2)


def test_a_node_splits_into_processes_only_on_postgresql(tmp_path):
    """The processes of a split node signal each other through PostgreSQL; SQLite has one writer."""
    for role in ("http", "background"):
        with pytest.raises(ValidationError, match="needs PostgreSQL"):
            Settings(process_role=role, database_url=f"sqlite+aiosqlite:///{tmp_path}/node.db")
    assert Settings(process_role="http", database_url="postgresql+asyncpg://pg/node").process_role == "http"

    refused = CliRunner().invoke(mpx, ["node", "--http-workers", "2"],
                                 env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/node.db"})
    assert refused.exit_code == 2
    assert "需要 PostgreSQL" in refused.output and "needs PostgreSQL" in refused.output
    assert not (tmp_path / "node.db").exists()  # nothing started
