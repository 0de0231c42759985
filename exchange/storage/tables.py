"""Table definitions (SQLAlchemy Core). Alembic migrations in exchange/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# BigInteger autoincrement is plain INTEGER on SQLite so that ROWID aliasing works.
Seq = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per message a served county sent (direction "out") or received ("in").
messages = Table(
    "messages",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("type", String(32), nullable=False),
    Column("schema_version", String(8), nullable=False),
    Column("sender", String(6), nullable=False),
    Column("receiver", String(6), nullable=False),
    Column("in_reply_to", String(64)),
    Column("agreement_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("envelope", Text, nullable=False),  # CloudEvents attributes, JSON
    Column("payload", Text, nullable=False),  # the event data, JSON
    Column("content_hash", String(64), nullable=False),  # recognises an idempotent resubmission
    Column("created_at", DateTime(timezone=True), nullable=False),  # accepted (out) / received (in)
    Column("published_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    UniqueConstraint("id", "direction"),
    Index("ix_messages_inbox", "direction", "receiver", "seq"),
    Index("ix_messages_in_reply_to", "in_reply_to"),
)

# Records waiting for (or done with) publication; written in the transaction that accepts them.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("key", String(6), nullable=False),
    Column("headers", Text, nullable=False),  # JSON list of [name, value]
    Column("value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_outbox_pending", "published_at", "seq"),
)

# Every record id this node has consumed: the consumer's deduplication key.
inbox = Table(
    "inbox",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Next offset to read per assigned partition, committed with the records it covers.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("topic", String(128), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# Records that could never be processed, kept with the reason instead of blocking the partition.
quarantine = Table(
    "quarantine",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("topic", String(128), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("message_id", String(64)),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("headers", Text, nullable=False),
    Column("value", LargeBinary),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("topic", "partition", "offset"),
)

__all__ = ["metadata", "messages", "outbox", "inbox", "consumer_offsets", "quarantine"]
