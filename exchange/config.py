"""Node settings, read from the environment (see the configuration table in README.md)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a node needs to know; one instance per node process."""

    # hide_input_in_errors: a refused setting's error must not repeat what was given (a password, a key).
    model_config = SettingsConfigDict(env_prefix="MPX_", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)

    env: Literal["development", "production"] = Field(
        "development", description="production: the node refuses to start with an unsafe setting (each named, see "
        "exchange/production.py); development: it warns about each.",
    )
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
        True, description="Use the idempotent producer. Off for brokers without it (the embedded Tansu). Every "
        "producer of the node asks acks=all either way.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How the node talks to Kafka: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL "
        "(SASL login, over TLS). Production: SASL_SSL.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism for SASL_PLAINTEXT/SASL_SSL; PLAIN only over SASL_SSL (it sends "
        "the password itself).",
    )
    kafka_sasl_username: str = Field("", description="SASL user name of this node; required with SASL_*.")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), repr=False, description="SASL password of this node; required with SASL_*. Never logged.",
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA(s) that signed the brokers' certificates (SSL/SASL_SSL); none: the "
        "system's CAs. Broker host names are always checked.",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate (chain) for brokers that require mutual TLS.",
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of the client certificate (if not inside the certificate file).",
    )
    kafka_ssl_key_password: SecretStr = Field(
        SecretStr(""), repr=False, description="Password of an encrypted client key file. Never logged.",
    )
    topic_prefix: str = Field("mpx.v1", description="Prefix of every topic name.")
    topic_partitions: int = Field(
        8, ge=1, le=1024, description="Partitions per province topic; the same on every node of a federation."
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor of topics this node creates.")
    topic_min_insync_replicas: int | None = Field(
        None, ge=1, description="min.insync.replicas of topics this node creates: with acks=all a record is "
        "acknowledged once this many replicas hold it (a cluster: 2 of 3). None: the broker's default.",
    )
    host: str = Field("127.0.0.1", description="HTTP listen address.")
    port: int = Field(8000, description="HTTP listen port.")
    max_body_bytes: int = Field(4 * 1024 * 1024, description="Largest request body accepted (bytes).")
    max_batch: int = Field(1000, ge=1, description="Most messages in one POST /v1/messages/batch.")
    page_max: int = Field(500, ge=1, description="Most items in one page of GET /v1/inbox and GET /v1/worklist.")
    clarification_answer_days: int = Field(
        3, ge=1, le=60, description="Working days the sender of a record has to answer a clarification request about "
        "it (补充说明), after the day the request arrived, on the sender county's calendar (GET /v1/worklist).",
    )
    relay_batch: int = Field(500, ge=1, description="Outbox rows the relay publishes per round.")
    relay_idle_seconds: float = Field(
        0.5, gt=0, description="How often the relay looks at the outbox when nobody wakes it."
    )
    consume_batch: int = Field(500, ge=1, description="Records the consumer stores per database transaction.")
    outbox_max_pending: int = Field(
        100_000, ge=1, description="Unpublished outbox records beyond which new messages get 503 (broker away)."
    )
    accept_clear_records: bool = Field(
        False, description="Migration window: also accept records whose data is in clear (the released 1.0 binding, "
        "before payloads were sealed end to end). Off: such records are quarantined as unsealed.",
    )
    relay_lease_seconds: float = Field(
        30.0, gt=0, description="How long a relay's claim on outbox records lasts unless renewed (replicas)."
    )
    drain_seconds: float = Field(
        10.0, ge=0, description="On shutdown, how long relay and consumer may take to finish their current batch."
    )
    consumer_group: str = Field(
        "", description="Kafka consumer group of a provincial node's replicas: they split its provinces' topics "
        "by group rebalancing. Empty: each county's partition is assigned by hand (replicas: PostgreSQL locks).",
    )
    reconcile_at: str = Field(
        "01:30", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="China time (HH:MM) of the daily reconciliation digest for the day before; empty: off.",
    )
    process_role: Literal["all", "http", "background"] = Field(
        "all", description="What this process of a node runs. all: everything (one process, or replicas); http: the "
        "API and the workbench only, waking the relay through the database; background: relay, consumer, feeds and "
        "daily jobs (its API answers too, on its own port). http and background need PostgreSQL. `mpx node "
        "--http-workers N` starts one background process and N HTTP workers on MPX_PORT.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    role: Literal["node", "monitor"] = Field(
        "node", description="node: serves counties; monitor: serves timeliness figures for MPX_MONITOR_SCOPE."
    )
    monitor_scope: Annotated[tuple[str, ...], NoDecode] = Field(
        ("all",), description="Provinces a monitor sees (2- or 6-digit codes, comma-separated), or all."
    )
    agreements_file: Path | None = Field(None, description="JSON file of cooperation agreements loaded at start-up "
                                         "(signed, or signed here with MPX_AGREEMENT_SIGNING_KEY; else refused).")
    calendar_files: Annotated[tuple[Path, ...], NoDecode] = Field(
        (), description="Extra regional calendar override files (JSON/CSV), comma-separated."
    )
    person_key_secret: SecretStr = Field(
        SecretStr(""), description="Secret for the keyed hash matching a return cancellation to its outflow "
        "registration; empty: derived from the node id (development only).",
    )
    admin_token: SecretStr = Field(
        SecretStr(""), description="Bearer token for admin endpoints (agreements, calendars); empty: disabled."
    )
    bootstrap_key: SecretStr = Field(
        SecretStr(""), description="API key (mpx_<id>_<secret>) registered at start-up: on a node, its local case "
        "system's (county_system for every served county); on a monitor, the monitor's own (per MPX_MONITOR_SCOPE)."
    )
    bootstrap_key_expires_at: AwareDatetime | None = Field(
        None, description="When the bootstrap key stops working (ISO 8601 with its offset); none: never "
        "(development only).",
    )
    metrics_token: SecretStr = Field(
        SecretStr(""), repr=False, description="Bearer token GET /metrics requires; empty: /metrics is open, like "
        "/healthz (it carries no personal data).",
    )
    rate_limit_per_minute: int = Field(6000, ge=0, description="Requests per minute per key or token (0: no limit).")
    address_refusals_per_minute: int = Field(
        120, ge=0, description="Failed authentications (401) per minute a client address may make; beyond them its "
        "requests get 429 before any credential is looked at, until the budget refills (0: no limit).",
    )
    jwt_jwks_url: str = Field("", description="JWKS URL of the identity provider whose JWTs are accepted; empty: none.")
    jwt_issuer: str = Field("", description="Required `iss` of accepted JWTs.")
    jwt_audience: str = Field("", description="Required `aud` of accepted JWTs.")
    jwt_jwks_cache_seconds: float = Field(
        300.0, gt=0, description="How long the identity provider's JWKS is used before it is fetched again (a key it "
        "dropped is refused after at most this long).",
    )
    reminder_interval_seconds: float = Field(60.0, gt=0, description="How often the node looks for reminders due.")
    roster_cutoff_day: int = Field(
        20, ge=1, le=28, description="Day of the month from which that month's roster check (定期清查) may run.")
    roster_interval_seconds: float = Field(
        3600.0, ge=0, description="How often (the first time one interval after start) the node sends the rosters "
        "of the newest closed month not sent yet (once per month and county pair); 0: only on demand (mpx roster run, "
        "the admin API).")
    webhook_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Hosts webhook subscriptions may post to (the counties' case systems), comma-separated; `*`: "
        "any. Empty: no subscription can be made (the node posts to no address a caller chose freely).",
    )
    webhook_timeout_seconds: float = Field(
        15.0, gt=0, le=120, description="How long a webhook receiver has to answer 2xx before the attempt failed.")
    webhook_disable_after_hours: float = Field(
        120.0, gt=0, description="A webhook endpoint failing without one success for this long is disabled (the "
        "reason shown); resuming it starts again.")
    webhook_idle_seconds: float = Field(
        1.0, gt=0, description="How often the webhook dispatcher looks for deliveries due when nobody wakes it.")
    webhook_todo_interval_seconds: float = Field(
        300.0, gt=0, description="How often to-do items due today or overdue are looked for, to announce each once "
        "(todo.due_soon, todo.overdue).")
    payload_keys: SecretStr = Field(
        SecretStr(""), description="Payload encryption keys at rest, `id:base64url(32 bytes)` comma-separated, the "
        "first current (`mpx keys new-payload-key` makes one); empty: payloads stored in clear (development only).",
    )
    key_wait_seconds: float = Field(
        10.0, ge=0, description="How long the consumer waits for the keys topic to be read to its end (at start, and "
        "before it quarantines a record signed with a key it does not know).",
    )
    clock_skew_seconds: float = Field(
        300.0, ge=0, le=3600, description="How far clocks may disagree: a record's ce_time may be this much later "
        "than the broker's append time, and a new signing key may start this much before it is published.",
    )
    record_max_age_hours: float = Field(
        24.0, gt=0, description="A record whose ce_time is more than this before the broker appended it is refused "
        "(time_out_of_bounds), unless this node asked for it again (reconciliation).",
    )
    agreement_keys: str = Field(
        "", description="Public keys the federation trusts to sign agreements, `key_id:base64url` comma-separated "
        "(`mpx agreements new-key`); the same on every node. Empty: no agreement from the topic is accepted.",
    )
    agreement_signing_key: SecretStr = Field(
        SecretStr(""), repr=False, description="`key_id:base64url` private key this node signs agreements with "
        "(admin API, MPX_AGREEMENTS_FILE); empty: such agreements are refused. Never logged.",
    )

    web_session_minutes: int = Field(
        480, ge=1, le=7 * 24 * 60, description="How long a person stays signed in to the workbench or dashboard "
        "(minutes from signing in); the session then ends on the server.",
    )
    web_lockout_attempts: int = Field(
        5, ge=1, description="Wrong passwords in a row after which a person's account is locked (web sign-in).",
    )
    web_lockout_minutes: int = Field(15, ge=1, description="How long a locked account stays locked (minutes).")
    web_unreachable_minutes: int = Field(
        30, ge=1, description="The workbench shows a counterpart county as unreachable when a record published to it "
        "this many minutes ago still has no delivery receipt.",
    )
    web_password_min_length: int = Field(10, ge=8, description="Shortest password `mpx users add` accepts.")

    @field_validator("counties", "monitor_scope", "calendar_files", "webhook_hosts", mode="before")
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
        if bad:
            raise ValueError(f"not county-level GB/T 2260 codes: {bad}")
        return value

    @model_validator(mode="after")
    def _node_serves_someone(self) -> Settings:
        if self.role == "node" and not self.counties:
            raise ValueError("a node must serve at least one county (MPX_COUNTIES)")
        return self

    @model_validator(mode="after")
    def _processes_share_postgresql(self) -> Settings:
        """Processes of one node signal each other through PostgreSQL (LISTEN/NOTIFY); SQLite has one writer."""
        if self.process_role != "all" and not self.database_url.startswith("postgresql"):
            raise ValueError(f"MPX_PROCESS_ROLE={self.process_role} needs PostgreSQL (DATABASE_URL)")
        return self

    @model_validator(mode="after")
    def _insync_replicas_can_be_had(self) -> Settings:
        """More in-sync replicas than replicas would refuse every record (NotEnoughReplicas)."""
        if (self.topic_min_insync_replicas or 0) > self.topic_replication:
            raise ValueError("MPX_TOPIC_MIN_INSYNC_REPLICAS cannot exceed MPX_TOPIC_REPLICATION")
        return self

    @model_validator(mode="after")
    def _jwts_are_for_this_service(self) -> Settings:
        """Without an issuer and an audience to check, any token the identity provider signs (for any other service)
        would be accepted here."""
        if self.jwt_jwks_url and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("MPX_JWT_JWKS_URL needs MPX_JWT_ISSUER and MPX_JWT_AUDIENCE")
        return self

    @model_validator(mode="after")
    def _kafka_security_is_coherent(self) -> Settings:
        """Refuse half-made security settings at start rather than fail (or connect unprotected) later."""
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"MPX_KAFKA_SECURITY_PROTOCOL={protocol} needs MPX_KAFKA_SASL_USERNAME and "
                             "MPX_KAFKA_SASL_PASSWORD")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"SASL credentials are set but MPX_KAFKA_SECURITY_PROTOCOL={protocol} would not use "
                             "them (SASL_SSL or SASL_PLAINTEXT)")
        if protocol == "SASL_PLAINTEXT" and self.kafka_sasl_mechanism == "PLAIN":
            raise ValueError("SASL mechanism PLAIN would send the password unencrypted: use SASL_SSL, or SCRAM")
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not tls and (any(tls_files) or self.kafka_ssl_key_password.get_secret_value()):
            raise ValueError(f"TLS files are set but MPX_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                             "(SSL or SASL_SSL)")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("MPX_KAFKA_SSL_KEYFILE needs MPX_KAFKA_SSL_CERTFILE")
        return self

    @cached_property
    def person_secret(self) -> bytes:
        """The person-hash secret; without MPX_PERSON_KEY_SECRET one anyone can derive (refused in production)."""
        return (self.person_key_secret.get_secret_value() or f"mpx-person-key:{self.node_id}").encode()

    def in_scope(self, county: str) -> bool:
        """Whether a monitor with this scope may see a county."""
        return "all" in self.monitor_scope or any(county.startswith(p[:2]) for p in self.monitor_scope)

    @cached_property
    def served(self) -> frozenset[str]:
        return frozenset(self.counties)
