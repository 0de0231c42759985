"""Prometheus metrics of a node or a monitor: what an operator watches, never personal data.

Each node has a registry of its own (tests run several nodes in one process). Every label value comes from a
closed, small set — message types, the node's own counties and their provinces, quarantine reasons, problem
codes, topic kinds, partitions, route templates — and anything outside it is counted as ``other``: no message id,
path or payload value can ever become a label.

Counting is cheap: callers hand over a batch at once and each series is incremented once per batch. Counts made
inside a database transaction reach the registry only once it has committed (``counted_transaction``), so a
batch that is rolled back and read again is counted once. Gauges that need the database (outbox pending, overdue
obligations) are counted when scraped, at most every ``PENDING_SECONDS`` and ``OVERDUE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import MessageType
from exchange.adapters.sql.database import writing
from exchange.adapters.sql.tables import obligations, outbox
from exchange.domain.clock import utcnow
from exchange.domain.problems import CATALOGUE
from exchange.domain.webhooks import Outcome

__all__ = ["CONTENT_TYPE_LATEST", "HttpMetrics", "MonitorMetrics", "NodeMetrics", "closed", "counted_transaction",
           "on_commit"]

OTHER = "other"
#: The label of a request no route matched (a path made up by a client must not become a label).
UNMATCHED = "unmatched"
MESSAGE_TYPES = frozenset(t.value for t in MessageType)
#: Why a received record is quarantined (exchange.service.receiving, exchange.adapters.crypto.signing, contracts.errors).
QUARANTINE_REASONS = frozenset({
    "undecodable", "unsigned", "unknown_key", "key_not_valid", "key_revoked", "time_out_of_bounds", "bad_signature",
    "no_signing_key", "misaddressed", "not_counterpart", "unsealed", "unknown_sealing_key", "unopenable",
    "contract_violation", "contract_error", "unknown_message_type", "unknown_schema_version", "unstorable",
})
PROBLEM_CODES = frozenset(CATALOGUE)
#: Why a request without a valid credential was refused (exchange.entrypoints.http.auth).
ANONYMOUS_REFUSALS = frozenset({"no_credential", "invalid_credential", "address_limited"})
PROBLEM_STATUSES = frozenset(str(status) for status, _, _ in CATALOGUE.values())
OBLIGATION_EVENTS = frozenset({"opened", "answered", "cancelled", "paused", "resumed"})
#: `<prefix>.<kind>[.<province>]`: the topics a node writes to (exchange.adapters.kafka.topics).
TOPIC_KINDS = frozenset({"records", "monitor", "reminders", "deadletter", "keys", "agreements"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Request timings: from a health check (milliseconds) to a batch of a thousand records (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PENDING_SECONDS = 10.0
OVERDUE_SECONDS = 60.0

#: Counts of the transaction in progress in this task (see on_commit); None outside one.
_uncommitted: ContextVar[Tally[Any] | None] = ContextVar("mpx_metrics_uncommitted", default=None)


@contextmanager
def on_commit() -> Iterator[None]:
    """Counts made in the block reach their registry only if it ends without an exception (its database
    transaction committed). A nested block leaves that to the outermost."""
    if _uncommitted.get() is not None:
        yield
        return
    pending: Tally[Any] = Tally()
    token = _uncommitted.set(pending)
    try:
        yield
    finally:
        _uncommitted.reset(token)
    for series, n in pending.items():
        series.inc(n)


@asynccontextmanager
async def counted_transaction(engine: AsyncEngine, *, first: bool = False) -> AsyncIterator[AsyncConnection]:
    """A writing transaction (`writing`) whose counts (made through NodeMetrics) are added only once it has
    committed."""
    with on_commit():
        async with writing(engine, first=first) as conn:
            yield conn


WEBHOOK_OUTCOMES = frozenset(o.value for o in Outcome)


def closed(value: object, allowed: frozenset[str]) -> str:
    """The value as a label if it belongs to its closed set; else ``other``."""
    return str(value) if isinstance(value, str) and value in allowed else OTHER


class Metrics(Protocol):
    """What the node's services and adapters count; `NodeMetrics` exports it, `NullMetrics` drops it."""

    def accepted(self, messages: Iterable[tuple[str, str]]) -> None: ...
    def received(self, records: Iterable[tuple[str, str]]) -> None: ...
    def duplicates(self, n: int) -> None: ...
    def receipts(self, n: int) -> None: ...
    def quarantined(self, reason: str) -> None: ...
    def obligations(self, event: str, counties: Iterable[str]) -> None: ...
    def published(self, topics: Iterable[str]) -> None: ...
    def lag(self, topic: str, partition: int, records: int) -> None: ...


class NullMetrics:
    """Counts nothing: for parts built outside a node (the console's key commands, unit tests)."""

    def accepted(self, messages: Iterable[tuple[str, str]]) -> None:
        pass

    def received(self, records: Iterable[tuple[str, str]]) -> None:
        pass

    def duplicates(self, n: int) -> None:
        pass

    def receipts(self, n: int) -> None:
        pass

    def quarantined(self, reason: str) -> None:
        pass

    def obligations(self, event: str, counties: Iterable[str]) -> None:
        pass

    def published(self, topics: Iterable[str]) -> None:
        pass

    def lag(self, topic: str, partition: int, records: int) -> None:
        pass


class HttpMetrics:
    """What every node and monitor answers: request timings per route template, problems per code."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Histogram(
            "mpx_http_request_duration_seconds", "HTTP requests by method and route template, with their duration.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._problems = Counter(
            "mpx_http_problems", "Problem JSON answers (refusals and errors) by status and problem code.",
            ["status", "code"], registry=self.registry)
        # Counted here rather than chained in the evidence: anyone can make them, as fast as they like.
        self._anonymous = Counter(
            "mpx_http_anonymous_refusals", "Requests refused without a valid credential: none given, one not valid, "
            "or from a client address over its budget of failed authentications (429).", ["refusal"],
            registry=self.registry)
        for reason in ANONYMOUS_REFUSALS:
            self._anonymous.labels(reason)

    def request(self, method: str, route: str | None, seconds: float) -> None:
        """`route`: the template of the route that answered (from the app's own routes), None if none matched."""
        self._requests.labels(closed(method, METHODS), route or UNMATCHED).observe(seconds)

    def problem(self, code: str) -> None:
        status = str(CATALOGUE[code][0]) if code in CATALOGUE else OTHER
        self._problems.labels(status, closed(code, PROBLEM_CODES)).inc()

    def anonymous_refusal(self, reason: str) -> None:
        self._anonymous.labels(closed(reason, ANONYMOUS_REFUSALS)).inc()

    async def refresh(self) -> None:
        """Bring gauges that need a query up to date before a scrape (nothing here)."""

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Topics(Protocol):
    """What the metrics read of the topic scheme (exchange.adapters.kafka.topics.TopicScheme), and no more: the
    Kafka adapters count into the metrics, so the metrics do not import them."""

    @property
    def prefix(self) -> str: ...

    @property
    def partitions(self) -> int: ...


class NodeMetrics(HttpMetrics):
    """A county node's traffic, delivery machinery and feedback obligations."""

    def __init__(self, counties: Iterable[str], topics: Topics, engine: AsyncEngine, *,
                 relay_failing: Callable[[], bool], broker_connected: Callable[[], bool],
                 awaiting_key: Callable[[], int] = lambda: 0):
        super().__init__()
        self.counties = frozenset(counties)
        self.provinces = frozenset(county[:2] for county in self.counties)
        self.partitions = frozenset(str(p) for p in range(topics.partitions))
        self.topics = topics
        self.engine = engine
        r = self.registry
        self._accepted = Counter("mpx_messages_accepted", "Messages accepted from local systems (stored with their "
                                 "outbox record), by type and sending county.", ["type", "county"], registry=r)
        self._published = Counter("mpx_records_published", "Outbox records the relay published and the broker "
                                  "acknowledged, by topic kind.", ["topic"], registry=r)
        self._received = Counter("mpx_records_received", "Records received and stored for the first time, by type "
                                 "and receiving county (delivery receipts apart).", ["type", "county"], registry=r)
        self._duplicates = Counter("mpx_records_duplicate", "Records received again and dropped by the inbox.",
                                   registry=r)
        self._receipts = Counter("mpx_delivery_receipts_received", "Records this node sent that a delivery "
                                 "receipt acknowledged (a batch receipt counts each record it names).", registry=r)
        self._quarantined = Counter("mpx_records_quarantined", "Records set aside in quarantine, by reason code.",
                                    ["reason"], registry=r)
        self._obligations = Counter("mpx_obligations", "Feedback obligations of served counties opened, answered "
                                    "(first feedback) and cancelled (return cancellation).", ["event", "county"],
                                    registry=r)
        self._webhooks = Counter("mpx_webhook_deliveries", "Webhook delivery attempts by outcome (delivered, retry, "
                                 "failed: given up after the last retry, gone: 410) and county.", ["outcome", "county"],
                                 registry=r)
        self._pending = Gauge("mpx_outbox_pending", "Outbox records not yet published (counted at most every "
                              f"{PENDING_SECONDS:.0f} s).", registry=r)
        self._overdue = Gauge("mpx_obligations_overdue", "Open obligations past their deadline, by served county "
                              f"(counted at most every {OVERDUE_SECONDS:.0f} s).", ["county"], registry=r)
        self._lag = Gauge("mpx_consumer_lag_records", "Records on a consumed partition not yet stored, at the last "
                          "batch (the broker's high watermark minus the stored position).", ["province", "partition"],
                          registry=r)
        Gauge("mpx_relay_failing", "1 while the relay's last attempt to publish failed (broker away?).",
              registry=r).set_function(lambda: float(relay_failing()))
        Gauge("mpx_broker_connected", "1 once the node has connected to Kafka.",
              registry=r).set_function(lambda: float(broker_connected()))
        Gauge("mpx_relay_awaiting_sealing_key", "Receiving counties whose records wait in the outbox because they have "
              "published no sealing key yet (never sent in clear).", registry=r).set_function(
            lambda: float(awaiting_key()))
        self._refreshing = asyncio.Lock()
        self._pending_at = self._overdue_at = float("-inf")

    def _add(self, metric: Counter, labels: tuple[str, ...], n: int) -> None:
        if n <= 0:
            return
        series = metric.labels(*labels) if labels else metric
        pending = _uncommitted.get()
        if pending is None:
            series.inc(n)
        else:
            pending[series] += n

    def accepted(self, messages: Iterable[tuple[str, str]]) -> None:
        """(type, sending county) of each message accepted."""
        for (type_, county), n in Tally(messages).items():
            self._add(self._accepted, (closed(type_, MESSAGE_TYPES), closed(county, self.counties)), n)

    def received(self, records: Iterable[tuple[str, str]]) -> None:
        """(type, receiving county) of each record stored for the first time."""
        for (type_, county), n in Tally(records).items():
            self._add(self._received, (closed(type_, MESSAGE_TYPES), closed(county, self.counties)), n)

    def duplicates(self, n: int) -> None:
        self._add(self._duplicates, (), n)

    def receipts(self, n: int) -> None:
        self._add(self._receipts, (), n)

    def quarantined(self, reason: str) -> None:
        self._add(self._quarantined, (closed(reason, QUARANTINE_REASONS),), 1)

    def webhook(self, outcome: str, county: str) -> None:
        """One webhook attempt's outcome (exchange/domain/webhooks.py Outcome), counted at once (not in a
        transaction of the unit of work)."""
        self._webhooks.labels(closed(outcome, WEBHOOK_OUTCOMES), closed(county, self.counties)).inc()

    def obligations(self, event: str, counties: Iterable[str]) -> None:
        """One obligation `event` per receiving county given."""
        for county, n in Tally(counties).items():
            self._add(self._obligations, (closed(event, OBLIGATION_EVENTS), closed(county, self.counties)), n)

    def published(self, topics: Iterable[str]) -> None:
        """The topic of each record the broker acknowledged."""
        for topic, n in Tally(topics).items():
            self._add(self._published, (self.topic_kind(topic),), n)

    def topic_kind(self, topic: str) -> str:
        head, _, rest = topic.partition(self.topics.prefix + ".")
        return closed(rest.split(".", 1)[0], TOPIC_KINDS) if not head else OTHER

    def lag(self, topic: str, partition: int, records: int) -> None:
        """The lag of a partition this node consumes, `<prefix>.records.<province>`."""
        if topic.startswith(self.topics.prefix + ".records."):
            province = closed(topic.rsplit(".", 1)[-1], self.provinces)
            self._lag.labels(province, closed(str(partition), self.partitions)).set(max(records, 0))

    async def refresh(self) -> None:
        """Count outbox pending and overdue obligations if the last counts are old; one scrape at a time."""
        async with self._refreshing:
            now = time.monotonic()
            if now - self._pending_at >= PENDING_SECONDS:
                async with self.engine.connect() as conn:
                    self._pending.set(await conn.scalar(
                        select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))))
                self._pending_at = now
            if now - self._overdue_at >= OVERDUE_SECONDS:
                await self.count_overdue(utcnow())
                self._overdue_at = now

    async def count_overdue(self, now: datetime) -> None:
        """One COUNT grouped by county, along ix_obligations_open (receiver, answered_at, cancelled_at, due_at)."""
        counted = dict.fromkeys(self.counties, 0)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(obligations.c.receiver, func.count())
                .where(obligations.c.receiver.in_(sorted(self.counties)), obligations.c.answered_at.is_(None),
                       obligations.c.cancelled_at.is_(None), obligations.c.due_at < now,
                       obligations.c.paused.is_(False))
                .group_by(obligations.c.receiver))
            counted.update({county: n for county, n in rows})
        for county, n in counted.items():
            self._overdue.labels(closed(county, self.counties)).set(n)


class MonitorMetrics(HttpMetrics):
    """A monitor: its HTTP answers, and how far its copy of the obligations has got."""

    def __init__(self, *, events_applied: Callable[[], int], broker_connected: Callable[[], bool]):
        super().__init__()
        Gauge("mpx_monitor_events_applied", "Obligation lifecycle events in scope applied to the monitor's copy "
              "since it started.", registry=self.registry).set_function(lambda: float(events_applied()))
        Gauge("mpx_broker_connected", "1 once the monitor reads the monitoring topic.",
              registry=self.registry).set_function(lambda: float(broker_connected()))
