"""Node settings, read from the environment (see the configuration table in README.md)."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a node needs to know; one instance per node process."""

    model_config = SettingsConfigDict(env_prefix="MPX_", extra="ignore", populate_by_name=True)

    node_id: str = Field("node", description="Name of this node; used in consumer group ids and receipts.")
    counties: Annotated[tuple[str, ...], NoDecode] = Field(
        ("621227",), description="County codes (GB/T 2260) this node serves, comma-separated."
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/node.db",
        validation_alias=AliasChoices("DATABASE_URL", "MPX_DATABASE_URL"),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "MPX_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, comma-separated host:port.",
    )
    kafka_idempotent: bool = Field(
        True, description="Use the idempotent producer (acks=all). Off for brokers without it (the embedded Tansu)."
    )
    topic_prefix: str = Field("mpx.v1", description="Prefix of every topic name.")
    topic_partitions: int = Field(
        8, ge=1, le=1024, description="Partitions per province topic; the same on every node of a federation."
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor of topics this node creates.")
    host: str = Field("127.0.0.1", description="HTTP listen address.")
    port: int = Field(8000, description="HTTP listen port.")
    max_body_bytes: int = Field(4 * 1024 * 1024, description="Largest request body accepted (bytes).")
    max_batch: int = Field(1000, ge=1, description="Most messages in one POST /v1/messages/batch.")
    page_max: int = Field(500, ge=1, description="Most items in one page of GET /v1/inbox.")
    relay_batch: int = Field(500, ge=1, description="Outbox rows the relay publishes per round.")
    relay_idle_seconds: float = Field(
        0.5, gt=0, description="How often the relay looks at the outbox when nobody wakes it."
    )
    consume_batch: int = Field(500, ge=1, description="Records the consumer stores per database transaction.")
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("counties", mode="before")
    @classmethod
    def _split_counties(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(code.strip() for code in value.split(",") if code.strip())
        return value

    @field_validator("counties")
    @classmethod
    def _real_counties(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from contracts import is_county

        bad = [code for code in value if not is_county(code)]
        if bad or not value:
            raise ValueError(f"not county-level GB/T 2260 codes: {bad or 'none given'}")
        return value

    @cached_property
    def served(self) -> frozenset[str]:
        return frozenset(self.counties)
