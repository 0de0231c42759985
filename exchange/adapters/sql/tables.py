"""Table definitions (SQLAlchemy Core). Alembic migrations in exchange/migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UtcDateTime(TypeDecorator):
    """Instants stored in UTC and read back timezone-aware on every database.

    SQLite keeps no offset: without this, a Shanghai-time deadline would be read back hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


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

# One row per message a served county sent (direction "out") or received ("in"). A message is (sender, id):
# ids are chosen by the sending county's systems, so two counties may use the same one (migration 0012).
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
    Column("created_at", UtcDateTime, nullable=False),  # accepted (out) / received (in)
    Column("published_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("answered_at", UtcDateTime),
    Column("withdrawn_at", UtcDateTime),  # the sender withdrew it (撤回) before it was answered
    UniqueConstraint("id", "direction", "sender"),
    Index("ix_messages_inbox", "direction", "receiver", "seq"),
    Index("ix_messages_in_reply_to", "in_reply_to"),
)

# Records waiting for (or done with) publication; written in the transaction that accepts them.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("message_id", String(80), nullable=False),  # a message id, or "<id>#<revision>" for monitor events
    Column("topic", String(128), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("key", String(80), nullable=False),  # destination county; agreements: "<id>:<version>"
    Column("headers", Text, nullable=False),  # JSON list of [name, value]
    Column("value", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    # Relay lease: the relay instance publishing this record and until when its claim holds (see transport/relay.py).
    Column("claimed_by", String(128)),
    Column("claim_expires_at", UtcDateTime),
    Index("ix_outbox_pending", "published_at", "seq"),
    Index("ix_outbox_partition_pending", "topic", "partition", "published_at"),
)

# Every record this node has consumed, by (id, sending county): the consumer's deduplication key. Rows
# consumed before migration 0012 whose sender could not be told (receipts, control records) have sender "".
inbox = Table(
    "inbox",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("sender", String(6), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
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
    Column("received_at", UtcDateTime, nullable=False),
    Column("key", String(128)),  # the record key as it came (for replay)
    Column("replayed_at", UtcDateTime),  # last admin replay
    Column("replay_result", String(64)),  # stored, duplicate, or the reason code it was rejected with again
    UniqueConstraint("topic", "partition", "offset"),
)

# Feedback obligations of this node's counties (receiver side), one per inbound record (id, sender).
obligations = Table(
    "obligations",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("message_type", String(32), nullable=False),
    Column("sender", String(6), primary_key=True),
    Column("receiver", String(6), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("provisional", Boolean, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("cancelled_at", UtcDateTime),
    Column("paused", Boolean, nullable=False, default=False),
    # Keyed HMAC of the person's ID number: matches a return cancellation to its outflow registration
    # without keeping the number outside the message; never leaves this node.
    Column("person_key", String(64)),
    Column("revision", Integer, nullable=False),
    Column("state", Text, nullable=False),  # the whole Obligation, JSON (see exchange/service/obligations.py)
    Column("urgency", String(32)),  # a verification request's urgency (协查紧急程度); None for a record (0018)
    # No reminder of the obligation is due before this (never later than its next one; None: not known). The
    # reminder round reads only the obligations whose time has come (0023).
    Column("next_reminder_at", UtcDateTime),
    Index("ix_obligations_open", "receiver", "answered_at", "cancelled_at", "due_at"),
    Index("ix_obligations_person", "person_key"),
    Index("ix_obligations_next_reminder", "next_reminder_at"),
)

# Reminders already emitted, so each fires once.
reminders = Table(
    "reminders",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("sender", String(6), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("receiver", String(6), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("fire_at", UtcDateTime, nullable=False),
    Column("emitted_at", UtcDateTime, nullable=False),
    Index("ix_reminders_receiver", "receiver", "emitted_at"),
)

# Cooperation agreements this node knows (every version), as JSON.
agreements = Table(
    "agreements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("body", Text, nullable=False),
)

# Regional calendar overrides added through the API.
calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("region", String(6), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("name", String(128), nullable=False, default=""),
)

# The monitor's copy of every obligation in its scope, by (id, sender): lifecycle facts only, no personal field.
monitor_obligations = Table(
    "monitor_obligations",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("message_type", String(32), nullable=False),
    Column("sender", String(6), primary_key=True),
    Column("receiver", String(6), nullable=False),
    Column("agreement_id", String(64), nullable=False),
    Column("agreement_version", Integer, nullable=False),
    Column("calendar_id", String(64), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("due_day", Date, nullable=False),
    Column("provisional", Boolean, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("response_working_days", Integer),
    Column("cancelled_at", UtcDateTime),
    Column("paused", Boolean, nullable=False),
    Column("paused_working_days", Integer, nullable=False),
    Column("sender_due_at", UtcDateTime),
    Column("sender_due_day", Date),
    Column("sent_at", UtcDateTime),
    Column("sender_late", Boolean),
    Column("revision", Integer, nullable=False),
    # withdrawn, superseded_by_return (None: not cancelled, or told before migration 0017); last, as 0017 added it
    Column("cancel_reason", String(32)),
    Column("urgency", String(32)),  # a verification request's urgency; None for a record (migration 0018)
    # how many times its clock was paused for clarification (0 also when told before migration 0019)
    Column("pause_count", Integer, nullable=False, server_default=text("0")),
    Index("ix_monitor_obligations_due", "due_day"),
    Index("ix_monitor_obligations_open", "answered_at", "cancelled_at", "due_at"),
    # Open, unpaused obligations by deadline: the overdue count reads only these (migration 0009).
    Index("ix_monitor_obligations_overdue", "due_at",
          postgresql_where=text("answered_at IS NULL AND cancelled_at IS NULL AND paused IS false"),
          sqlite_where=text("answered_at IS NULL AND cancelled_at IS NULL AND paused IS 0")),
    # The sender-side cohort (records with a sender-side deadline only).
    Index("ix_monitor_obligations_sender_due", "sender_due_day",
          postgresql_where=text("sender_due_day IS NOT NULL"), sqlite_where=text("sender_due_day IS NOT NULL")),
)

# The receiver-side timeliness counts of monitor_obligations, summed per (due day, deadline, receiver,
# agreement, type, response days): the timeliness answers add these up instead of reading every obligation
# (exchange/adapters/sql/monitor_summary.py keeps it equal to the table, in the feed's transaction; migration 0010).
# Counts hold only what does not depend on "now"; overdue vs open-not-due is decided at query time from
# due_at, which is part of the key. response_days is -1 for rows outside the response-time histogram.
monitor_summary = Table(
    "monitor_summary",
    metadata,
    Column("due_day", Date, primary_key=True),  # first: the key's index serves the cohort's range
    Column("due_at", UtcDateTime, primary_key=True),
    Column("receiver", String(6), primary_key=True),
    Column("agreement_id", String(64), primary_key=True),
    Column("agreement_version", Integer, primary_key=True),
    Column("message_type", String(32), primary_key=True),
    Column("response_days", Integer, primary_key=True),
    Column("urgency", String(32), primary_key=True),  # a verification request's urgency; "" for a record (0018)
    Column("cancelled", Integer, nullable=False),
    Column("on_time", Integer, nullable=False),
    Column("late", Integer, nullable=False),
    Column("open", Integer, nullable=False),  # unanswered, not cancelled, not paused
    Column("paused", Integer, nullable=False),  # unanswered, not cancelled, paused: open whatever the time
    Column("withdrawn", Integer, nullable=False, server_default=text("0")),  # of the cancelled: withdrawn by the sender
    # of the not cancelled: clarified (paused at least once), and the working days they were paused (migration 0019)
    Column("clarified", Integer, nullable=False, server_default=text("0")),
    Column("paused_working_days", Integer, nullable=False, server_default=text("0")),
)

# The sender-side counts of monitor_obligations (those with a sender-side deadline, not cancelled) per
# (sender-side due day, sender, agreement, type): kept with monitor_summary (migration 0011).
monitor_sender_summary = Table(
    "monitor_sender_summary",
    metadata,
    Column("sender_due_day", Date, primary_key=True),
    Column("sender", String(6), primary_key=True),
    Column("agreement_id", String(64), primary_key=True),
    Column("agreement_version", Integer, primary_key=True),
    Column("message_type", String(32), primary_key=True),
    Column("due", Integer, nullable=False),
    Column("late", Integer, nullable=False),  # sent after the sender-side deadline (sender_late true)
)

# Reconciliation (anti-entropy): digests sent and checked, resend requests made and served.
reconciliation = Table(
    "reconciliation",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # digest_sent, digest_checked, resend_served
    Column("county", String(6), nullable=False),  # the served county
    Column("peer", String(6), nullable=False),  # the county on the other side
    Column("day", Date, nullable=False),
    Column("digest_id", String(64), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("total", Integer, nullable=False),  # messages that day, over all parts
    Column("count", Integer, nullable=False),  # ids in this part / in the resend request
    Column("missing", Integer, nullable=False),  # checked: ids lacking; resend_served: ids not in the store
    Column("missing_ids", Text),  # JSON list of those ids
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_reconciliation_day", "county", "peer", "day"),
)

# One row per scheduled daily reconciliation, so that of several replicas only one runs it.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("started_by", String(128), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
)

# API keys of local systems, monitors and admins: only a hash of the secret is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("counties", Text, nullable=False, default=""),
    Column("provinces", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# People who sign in to the workbench and the dashboard (exchange/adapters/people.py): separate from API keys.
# Only an argon2 hash of the password is kept; failed sign-ins count towards a lockout.
people = Table(
    "people",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # clerk, viewer (a node), monitor (a monitor)
    Column("counties", Text, nullable=False, default=""),
    Column("provinces", Text, nullable=False, default=""),
    Column("password_hash", String(256), nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
)

# Signed-in sessions of people: the cookie holds a random token, this table its hash, so that signing out and
# expiry end a session on the server (a copied cookie stops working too).
person_sessions = Table(
    "person_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account", String(64), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
)

# The evidence chain: append-only, each entry hashing the one before (exchange/adapters/crypto/audit.py).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("event", String(32), nullable=False),
    Column("message_id", String(80)),
    Column("county", String(6)),
    Column("principal", String(64)),
    Column("detail", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_message", "message_id"),
)

# This node's own Ed25519 signing keys, one or more per served county (exchange/adapters/crypto/trust.py). The private half is
# sealed with the payload key (MPX_PAYLOAD_KEYS) when one is configured.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("private_key", Text, nullable=False),
    Column("public_key", String(64), nullable=False),  # raw Ed25519 public key, base64url
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
)

# Every county's public keys this node believes, as learned from the keys topic (its own included).
county_public_keys = Table(
    "county_public_keys",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime),
    Column("learned_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),  # revocation learned: nothing signed with the key is believed (0013)
)

# This node's own X25519 sealing keys (exchange/adapters/crypto/sealing.py): records are sealed to them end to end. Old keys
# stay, to open records sealed to them that may still arrive. The private half is sealed with the payload key.
sealing_keys = Table(
    "sealing_keys",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("key_id", String(80), primary_key=True),
    Column("private_key", Text, nullable=False),
    Column("public_key", String(64), nullable=False),  # raw X25519 public key, base64url
    Column("not_before", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Every county's public sealing keys this node believes, as learned from the keys topic (its own included).
county_sealing_keys = Table(
    "county_sealing_keys",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("key_id", String(80), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("learned_at", UtcDateTime, nullable=False),
)

# Evidence chain heads of peer nodes, from the delivery receipts (1.1, and batch receipts) and digests they sent: a
# node's operator who rewrites its chain is caught by the heads its peers hold (mpx evidence heads / mpx evidence
# verify --heads).
peer_chain_heads = Table(
    "peer_chain_heads",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("peer", String(6), nullable=False),  # the county whose receipt carried it
    Column("hash", String(64), nullable=False),
    # the record a single receipt acknowledged; a batch receipt's or a digest's own id
    Column("message_id", String(64), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

# The monthly rosters (定期清查) of this node's counties, each side's (a roster of many persons goes in parts: one row
# each): when it went out or came in, when it was answered, and the answer's counts (no personal field).
rosters = Table(
    "rosters",
    metadata,
    Column("side", String(12), primary_key=True),  # registration (sent it) or residence (answered it)
    Column("registration_county", String(6), primary_key=True),  # the roster's sender: a roster is (sender, id)
    Column("roster_id", String(64), primary_key=True),
    Column("month", String(7), nullable=False),
    Column("residence_county", String(6), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),  # sent (registration side) or received (residence side)
    Column("answered_at", UtcDateTime),
    Column("still_here", Integer),
    Column("left", Integer),
    Column("never_arrived", Integer),
    Column("unknown", Integer),
    Index("ix_rosters_month", "month", "registration_county", "residence_county"),
)

# Discrepancies of the monthly roster check (定期清查), kept on both sides: per month, the registrations the residence
# county did not find still there, with the finding and what is to be done; resolved by a later return cancellation
# of the same registration (or person). No personal field but the person key (never leaves this node).
roster_discrepancies = Table(
    "roster_discrepancies",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("side", String(12), primary_key=True),  # registration (sent the roster) or residence (answered it)
    Column("registration_county", String(6), primary_key=True),
    Column("registration_id", String(64), primary_key=True),
    Column("residence_county", String(6), nullable=False),
    Column("roster_id", String(64), nullable=False),
    Column("finding", String(16), nullable=False),  # left, never_arrived, unknown
    Column("new_region", String(6)),
    # Keyed HMAC of the person's ID number (as obligations.person_key): a return cancellation naming the person
    # without the registration resolves it too.
    Column("person_key", String(64)),
    Column("found_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Column("resolved_by", String(64)),  # the return cancellation
    Index("ix_roster_discrepancies_open", "resolved_at", "registration_county", "registration_id"),
)

# The monitor's figures of each roster (or part) answered, as the residence county signed them; summed per (month,
# county pair) when asked.
monitor_roster = Table(
    "monitor_roster",
    metadata,
    Column("registration_county", String(6), primary_key=True),  # the roster's sender: a roster is (sender, id)
    Column("roster_id", String(64), primary_key=True),
    Column("month", String(7), nullable=False),
    Column("residence_county", String(6), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("still_here", Integer, nullable=False),
    Column("left", Integer, nullable=False),
    Column("never_arrived", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),
    Index("ix_monitor_roster_month", "month"),
)

# Webhook push (推送, exchange/domain/webhooks.py): a county's subscriptions, the deliveries the unit of work stores
# with the events they announce (an outbox of their own), and every attempt of each.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("county", String(6), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", Text, nullable=False),  # whsec_…, sealed at rest with the payload keys
    Column("kinds", String(128), nullable=False),  # comma-separated webhooks.Kind values
    Column("state", String(12), nullable=False),  # active, paused, disabled
    Column("disabled_reason", String(300)),
    Column("failing_since", UtcDateTime),  # first failure since the last success
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64)),
    # Dispatcher lease: the process delivering this subscription's events, one at a time, and until when.
    Column("claimed_by", String(128)),
    Column("claim_expires_at", UtcDateTime),
    Index("ix_webhook_subscriptions_county", "county"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("subscription_id", String(32), nullable=False),
    Column("event_id", String(40), nullable=False),  # webhook-id: the same for every attempt and subscription
    Column("county", String(6), nullable=False),
    Column("type", String(32), nullable=False),
    Column("sender", String(6)),
    Column("receiver", String(6)),
    Column("message_id", String(64)),
    Column("body", Text),  # JSON without personal fields; a record's data is read (and opened) when it is sent
    Column("created_at", UtcDateTime, nullable=False),
    Column("state", String(12), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_status", Integer),
    Column("last_error", String(200)),
    Column("finished_at", UtcDateTime),
    UniqueConstraint("subscription_id", "event_id"),
    Index("ix_webhook_deliveries_queue", "subscription_id", "state", "seq"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("delivery_seq", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status", Integer),  # the HTTP status; none: no answer
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(12), nullable=False),
    Column("error", String(200)),  # never the payload
    Index("ix_webhook_attempts_delivery", "delivery_seq", "seq"),
)

__all__ = ["metadata", "messages", "outbox", "inbox", "consumer_offsets", "quarantine", "obligations", "reminders", "agreements", "calendar_overrides", "monitor_obligations", "monitor_summary", "monitor_sender_summary", "reconciliation", "reconciliation_runs", "api_keys", "people", "person_sessions", "audit_log", "signing_keys", "county_public_keys", "sealing_keys", "county_sealing_keys", "peer_chain_heads", "rosters", "roster_discrepancies", "monitor_roster", "webhook_subscriptions", "webhook_deliveries", "webhook_attempts"]
