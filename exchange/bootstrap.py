"""Builds a node or a monitor and starts and stops it: database, Kafka clients, feeds, relay and consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from datetime import timedelta

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.api_keys import KeyStore
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.signed_agreements import AgreementKeys, load_signed_agreements
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.admin import TopicProvisioner
from exchange.adapters.kafka.agreement_feed import AgreementFeed
from exchange.adapters.kafka.agreement_feed import store as store_agreement
from exchange.adapters.kafka.connection import client_options, describe, stop_all
from exchange.adapters.kafka.consumer import Consumer
from exchange.adapters.kafka.key_feed import KeyFeed
from exchange.adapters.kafka.monitor_feed import MonitorFeed
from exchange.adapters.kafka.relay import Relay
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import MonitorMetrics, NodeMetrics
from exchange.adapters.people import PersonStore
from exchange.adapters.sql.database import create_engine, migrate, ping
from exchange.adapters.sql.signals import OUTBOX, RULES, STATUS, STATUS_EVERY, WEBHOOKS, BackgroundStatus, Signals
from exchange.adapters.sql.tables import agreements as agreements_table
from exchange.adapters.sql.tables import calendar_overrides
from exchange.adapters.unit_of_work import Outbox, SqlUnitOfWork, evidence_only
from exchange.adapters.webhooks.dispatcher import Dispatcher
from exchange.adapters.webhooks.http import HttpPoster
from exchange.adapters.webhooks.store import WebhookStore
from exchange.config import Settings
from exchange.domain import Agreement, AgreementBook, CalendarBook
from exchange.domain.principals import Role
from exchange.domain.worklist import AnswerDeadline, Kind
from exchange.service.agreements import AgreementPublisher
from exchange.service.backpressure import OutboxLimit
from exchange.service.calendars import CalendarOverrides
from exchange.service.counterparts import Counterparts
from exchange.service.monitoring import MonitorQueries
from exchange.service.obligations import Obligations
from exchange.service.queries import Queries
from exchange.service.receiving import Inbound
from exchange.service.reconciliation import Reconciler
from exchange.service.reminders import Reminders
from exchange.service.roster import Rosters
from exchange.service.sending import Outbound
from exchange.service.unit_of_work import UnitOfWorkFactory
from exchange.service.webhook_todos import DueAnnouncer
from exchange.service.worklist import ClarificationItems, FeedbackItems, RosterItems, WebhookFailedItems, Worklist

log = logging.getLogger(__name__)
#: Background tasks that end only when the node stops: one that ended otherwise makes /readyz fail.
RUN_FOREVER = frozenset({"keys", "agreements", "consumer", "relay", "signing-keys", "reminders", "webhooks",
                         "webhook-todos", "signals", "status", "rules"})
#: How often a node on PostgreSQL reads agreements and calendar overrides again (another process may have added some).
RULES_EVERY = 10.0


class Node:
    """The HTTP API works as soon as the database is up; Kafka may come later (the outbox holds the records)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.topics = TopicScheme(settings.topic_prefix, settings.topic_partitions)
        self.engine: AsyncEngine = create_engine(settings.database_url)
        self.kafka = client_options(settings)  # every Kafka client below connects with these (SASL, TLS)
        self.provisioner = TopicProvisioner(self.kafka, settings.topic_partitions, settings.topic_replication,
                                            settings.topic_min_insync_replicas)
        self.agreements = AgreementBook()
        self.calendars = CalendarBook.default()
        for path in settings.calendar_files:
            self.calendars.load(path)
        # Names this process among replicas of the node: relay leases, daily reconciliation runs. Stable across a
        # restart (the claims of a killed relay are taken back at once). Unique per process: the processes of a node
        # split by role have a port each but the HTTP workers, which claim nothing.
        self.instance = f"{settings.node_id}@{socket.gethostname()}:{settings.port}"
        self.role = settings.process_role
        self.broker_connected = False
        # A node split into processes (MPX_PROCESS_ROLE): the HTTP workers wake the background process's relay and
        # hear whether it reaches the broker, through the database (exchange/adapters/sql/signals.py).
        self.status = BackgroundStatus()
        self.signals: Signals | None = None
        if self.role == "http":
            self.signals = Signals(settings.database_url, {STATUS: self.status.heard, RULES: self._rules_changed})
        elif self.role == "background":
            self.signals = Signals(settings.database_url, {OUTBOX: lambda _: self.relay.wake(),
                                                           WEBHOOKS: lambda _: self.dispatcher.wake(),
                                                           RULES: self._rules_changed})
        self._rules_due = asyncio.Event()
        # GET /metrics (exchange/adapters/metrics.py): a registry of this process's own.
        self.metrics = NodeMetrics(settings.counties, self.topics, self.engine,
                                   relay_failing=self.relay_failing, broker_connected=self.broker_up,
                                   awaiting_key=lambda: len(self.relay.awaiting_key))
        # Signed records, payloads sealed end to end and at rest (exchange/adapters/crypto/trust.py).
        self.trust = Trust(self.engine, PayloadCipher.from_setting(settings.payload_keys), settings.counties,
                           accept_clear=settings.accept_clear_records,
                           skew=timedelta(seconds=settings.clock_skew_seconds),
                           max_age=timedelta(hours=settings.record_max_age_hours),
                           on_sealing_key=lambda: self.relay.key_learned())
        # Every write of a use case goes through one of these: the only writer of the outbox and evidence chain.
        outbox = Outbox(self.topics, self.trust, settings.node_id)
        self.uow: UnitOfWorkFactory = lambda: SqlUnitOfWork(self.engine, outbox, self.metrics)
        marking = lambda: SqlUnitOfWork(self.engine, outbox, self.metrics, first=True)  # noqa: E731 - ahead on SQLite
        self.relay = Relay(self.engine, marking, self.provisioner, self.topics, self.trust, self.metrics,
                           batch=settings.relay_batch, idle_seconds=settings.relay_idle_seconds,
                           instance=self.instance, lease_seconds=settings.relay_lease_seconds)
        self.obligations = Obligations(self.agreements, self.calendars, settings.person_secret)
        admit = OutboxLimit(settings.outbox_max_pending,
                            broker_away=lambda: not self.broker_up() or self.relay_failing())
        self.outbound = Outbound(settings, self.uow, self.obligations, self.trust, admit, self.wake_relay)
        self.reconciler = Reconciler(settings, self.uow, self.topics, self.wake_relay, self.instance)
        self.rosters = Rosters(settings, self.uow, self.outbound.compose, self.trust, self.wake_relay)
        self.inbound = Inbound(settings, self.uow, self.obligations, self.trust, self.reconciler,
                               self._refresh_keys, self.metrics, self.rosters)
        self.reminders = Reminders(self.uow, self.calendars, settings.served)
        self.calendar_overrides = CalendarOverrides(self.uow, self.calendars, on_change=self._tell(RULES))
        answer_deadline = AnswerDeadline(self.calendars, settings.clarification_answer_days)
        self.queries = Queries(self.engine, settings.served, self.trust, self.obligations, answer_deadline)
        # A county's to-do list: one item source per kind (a new kind adds its source here).
        self.worklist = Worklist(self.engine, [
            FeedbackItems(), ClarificationItems(answer_deadline), FeedbackItems(requests=True),
            RosterItems(Kind.ROSTER_REGISTRATION, settings.roster_cutoff_day),
            RosterItems(Kind.ROSTER_RESIDENCE, settings.roster_cutoff_day), WebhookFailedItems()])
        # Webhook push: subscriptions and their log (admin API, mpx webhooks); the dispatcher sends what the unit of
        # work stored, over HTTP; to-do items due are announced once each.
        self.webhooks = WebhookStore(self.engine, self.uow, self.trust.cipher)
        self.webhook_poster = HttpPoster(settings.webhook_timeout_seconds)
        self.dispatcher = Dispatcher(
            self.engine, self.webhook_poster, self.queries.received, self.trust.cipher, self.metrics,
            instance=self.instance, disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            idle_seconds=settings.webhook_idle_seconds, lease_seconds=settings.webhook_timeout_seconds * 2 + 30)
        self.due_announcer = DueAnnouncer(self.uow, self.worklist, settings.counties, limit=settings.page_max)
        # Agreements: accepted only signed by a key the federation trusts for them (adapters/crypto/signed_agreements).
        self.agreement_keys = AgreementKeys.from_settings(settings)
        self.agreement_publisher = AgreementPublisher(self.uow, self.agreements, self.agreement_keys, self.wake_relay)
        self.keys = KeyStore(self.engine, self.uow)
        self.people = PersonStore(self.engine, self.uow, settings)  # who signs in to the workbench
        self.counterparts = Counterparts(self.engine, timedelta(minutes=settings.web_unreachable_minutes))
        # Made once Kafka answers (_connect).
        self.key_feed: KeyFeed | None = None
        self.agreement_feed: AgreementFeed | None = None
        self.consumer: Consumer | None = None
        self._keys_consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._kafka_consumer: AIOKafkaConsumer | None = None
        self._feed_consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task] = []

    def wake_relay(self) -> None:
        """New outbox rows: the relay of this process, or of the background process (through the database)."""
        if self.role == "http":
            self.signals.notify(OUTBOX)
        else:
            self.relay.wake()

    def wake_webhooks(self) -> None:
        if self.role == "http":
            self.signals.notify(WEBHOOKS)
        else:
            self.dispatcher.wake()

    def _tell(self, channel: str) -> Callable[[], None]:
        """Tell the node's other processes (if it is split into processes): `channel` changed."""
        return (lambda: self.signals.notify(channel)) if self.signals is not None else (lambda: None)

    def broker_up(self) -> bool:
        """This process reaches Kafka; an HTTP worker: the background process said so lately."""
        if self.role == "http":
            return self.status.alive and self.status.broker
        return self.broker_connected

    def relay_failing(self) -> bool:
        return self.status.failing if self.role == "http" else self.relay.failing

    def _rules_changed(self, _: str) -> None:
        self._rules_due.set()

    async def _refresh_keys(self) -> bool:
        """Read the keys topic to its end (False if it could not be, or Kafka is not connected yet)."""
        return self.key_feed is not None and await self.key_feed.catch_up(self.settings.key_wait_seconds)

    async def start(self) -> None:
        await migrate(self.settings.database_url)
        if bootstrap := self.settings.bootstrap_key.get_secret_value():
            await self.keys.create(name="local case system (MPX_BOOTSTRAP_KEY)", role=Role.COUNTY_SYSTEM,
                                   counties=self.settings.served, key=bootstrap,
                                   expires_at=self.settings.bootstrap_key_expires_at)
        await self.trust.start(publishes=self.role != "http")
        await self._load_rules()
        if self.signals is not None:
            self._tasks.append(asyncio.create_task(self.signals.run(), name="signals"))
        if self.engine.dialect.name == "postgresql":  # other processes and replicas of the node may add rules
            self._tasks.append(asyncio.create_task(self._reload_rules_forever(), name="rules"))
        if self.role == "http":  # the background process runs the rest
            self._tasks.append(asyncio.create_task(self.trust.follow_forever(), name="signing-keys"))
            return
        if self.role == "background":
            self._tasks.append(asyncio.create_task(self._say_status_forever(), name="status"))
        self.relay.resume()
        self._tasks.append(asyncio.create_task(self._run_transport(), name="transport"))
        self._tasks.append(asyncio.create_task(self.reconciler.run_daily(), name="reconciliation"))
        # Webhooks need no broker: events stored while Kafka is away are pushed all the same.
        self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="webhooks"))
        self._tasks.append(asyncio.create_task(self.due_announcer.run(self.settings.webhook_todo_interval_seconds),
                                               name="webhook-todos"))

    async def _load_rules(self) -> None:
        """Agreements and calendar overrides this node already knows, then the start-up file."""
        await self._load_stored_rules()
        if self.settings.agreements_file:  # signed, or signed here with MPX_AGREEMENT_SIGNING_KEY; else refused
            for agreement in load_signed_agreements(self.settings.agreements_file, self.agreement_keys):
                if self.agreements.add(agreement):
                    await store_agreement(self.engine, agreement)

    async def _reload_rules_forever(self) -> None:
        """Agreements and overrides another process of the node stored: at once when it says so, else regularly."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rules_due.wait(), RULES_EVERY)
            self._rules_due.clear()
            try:
                await self._load_stored_rules()
            except Exception as exc:  # noqa: BLE001 - database away: the next round reads them
                log.warning("reading agreements and calendar overrides again failed (%s)", type(exc).__name__)

    async def _say_status_forever(self) -> None:
        """The background process tells the HTTP workers whether it reaches the broker."""
        while True:
            self.signals.notify(STATUS, BackgroundStatus.payload(self.broker_connected, self.relay.failing))
            await asyncio.sleep(STATUS_EVERY)

    async def _load_stored_rules(self) -> None:
        async with self.engine.connect() as conn:
            for row in await conn.execute(select(agreements_table.c.body)):
                self.agreements.add(Agreement.from_dict(orjson.loads(row.body)))
            overrides = (await conn.execute(select(calendar_overrides))).all()
        for o in overrides:
            self.calendars.add_override(o.region, o.day, o.kind, o.name)

    async def stop(self) -> None:
        await self._drain()
        await stop_all(self._tasks, (self._keys_consumer, self._feed_consumer, self._kafka_consumer, self._producer))
        self._tasks.clear()  # stopped on purpose: not "stopped anyway" if the app starts the node again
        await self.webhook_poster.close()
        await self.engine.dispose()

    async def _drain(self) -> None:
        """Shutdown (SIGTERM): the relay finishes its batch, the consumer its transaction and Kafka commit, the
        webhook dispatcher its attempt in flight."""
        self.relay.stop()
        self.dispatcher.stop()
        if self.consumer is not None:
            self.consumer.stop()
        draining = [t for t in self._tasks if t.get_name() in ("relay", "consumer", "webhooks") and not t.done()]
        if draining:
            _, late = await asyncio.wait(draining, timeout=self.settings.drain_seconds)
            if late:
                log.warning("%s still busy after %.0fs; stopping anyway (its records stay in the outbox or on Kafka)",
                            ", ".join(t.get_name() for t in late), self.settings.drain_seconds)
            else:
                log.info("relay and consumer drained")

    def stopped(self) -> list[str]:
        """Background tasks that ended although the node is not stopping: a feed, relay or consumer (they run
        until the node stops), or any task that failed (not the transport start-up, nor a daily job that is
        off and simply returned)."""
        return sorted({t.get_name() for t in self._tasks if t.done() and (
            t.get_name() in RUN_FOREVER or t.cancelled() or t.exception() is not None)})

    async def ready(self) -> dict[str, bool]:
        database = True
        try:
            await asyncio.wait_for(ping(self.engine), 3)
        except Exception:  # noqa: BLE001 - any failure means not ready
            database = False
        broker = self.broker_up() if self.role == "http" else False
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 3)
                broker = True
            except Exception:  # noqa: BLE001
                broker = False
        return {"database": database, "broker": broker}

    async def _run_transport(self) -> None:
        """Connect to Kafka (retrying until it answers), then run relay and consumer until cancelled."""
        s = self.settings
        backoff = 0.5
        while True:
            try:
                await self._connect()
                break
            except Exception as exc:  # noqa: BLE001 - broker not there yet
                log.warning("Kafka at %s not reachable (%s); retrying", describe(self.kafka), type(exc).__name__)
                for client in (self._keys_consumer, self._feed_consumer, self._kafka_consumer, self._producer):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.stop()
                self._producer = self._kafka_consumer = self._feed_consumer = self._keys_consumer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
        self.broker_connected = True
        log.info("node %s connected to Kafka, serving %s", s.node_id, ",".join(s.counties))
        # Every county's keys before the first record: a record read before its key would be held up.
        # Tracked at once: a node stopped during the wait below cancels it before its consumer is closed.
        keys = asyncio.create_task(self.key_feed.run(), name="keys")
        keys.add_done_callback(_log_crash)
        self._tasks.append(keys)
        if not await self.key_feed.catch_up(s.key_wait_seconds):
            log.warning("keys topic not read to its end within %.0fs; consuming anyway", s.key_wait_seconds)
        # Our keys the topic lacks, acknowledged before the relay publishes a record signed with them.
        await self.trust.reload(self.key_feed.publish)
        tasks = [
            asyncio.create_task(self.key_feed.reload_forever(), name="signing-keys"),
            asyncio.create_task(self.relay.run(self._producer), name="relay"),
            asyncio.create_task(self.consumer.run(), name="consumer"),
            asyncio.create_task(self.agreement_feed.run(), name="agreements"),
            asyncio.create_task(self.reminders.run(s.reminder_interval_seconds, self.wake_relay), name="reminders"),
            asyncio.create_task(self.rosters.run_periodically(), name="roster-check"),
        ]
        for task in tasks:
            task.add_done_callback(_log_crash)
        self._tasks += tasks

    async def _connect(self) -> None:
        s = self.settings
        partitions = {TopicPartition(*self.topics.address(county)) for county in s.counties}
        await self.provisioner.ensure({tp.topic for tp in partitions} | {self.topics.monitor_topic,
                                                                         self.topics.reminders_topic})
        await self.provisioner.ensure({self.topics.agreements_topic, self.topics.keys_topic}, partitions=1,
                                      compacted=True)
        self._producer = AIOKafkaProducer(
            **self.kafka,
            client_id=f"mpx-{s.node_id}",
            enable_idempotence=s.kafka_idempotent,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await self._producer.start()
        self._kafka_consumer = AIOKafkaConsumer(
            **self.kafka,
            client_id=f"mpx-{s.node_id}",
            group_id=s.consumer_group or f"mpx-node-{s.node_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._kafka_consumer.start()
        self._feed_consumer = AIOKafkaConsumer(
            **self.kafka, client_id=f"mpx-{s.node_id}-agreements",
            enable_auto_commit=False,
        )
        await self._feed_consumer.start()
        self.agreement_feed = AgreementFeed(self._feed_consumer, self.topics.agreements_topic, self.agreements,
                                            self.engine, self.agreement_keys, self.trust.seal_value)
        self._keys_consumer = AIOKafkaConsumer(
            **self.kafka, client_id=f"mpx-{s.node_id}-keys", enable_auto_commit=False,
        )
        await self._keys_consumer.start()
        self.key_feed = KeyFeed(self._keys_consumer, self._producer, self.topics.keys_topic, self.trust)
        self.consumer = Consumer(
            self._kafka_consumer, self.inbound, self.engine, partitions, s.consume_batch, self.wake_relay,
            self.metrics, group_topics={tp.topic for tp in partitions} if s.consumer_group else None,
        )


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())


class MonitorNode:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.topics = TopicScheme(settings.topic_prefix, settings.topic_partitions)
        self.engine = create_engine(settings.database_url)
        self.kafka = client_options(settings)  # SASL and TLS as configured, for every client
        self.calendars = CalendarBook.default()
        for path in settings.calendar_files:
            self.calendars.load(path)
        self.queries = MonitorQueries(self.engine, settings.in_scope, self.calendars)
        self.feed: MonitorFeed | None = None
        self.uow: UnitOfWorkFactory = evidence_only(self.engine)  # a monitor publishes nothing
        self.keys = KeyStore(self.engine, self.uow)
        self.people = PersonStore(self.engine, self.uow, settings)  # who signs in to the dashboard
        self._consumer: AIOKafkaConsumer | None = None
        self._keys_consumer: AIOKafkaConsumer | None = None
        # The counties' public keys, from the keys topic: each event must be signed by its receiving county.
        self.trust = Trust(self.engine, PayloadCipher.from_setting(""), (),
                           skew=timedelta(seconds=settings.clock_skew_seconds))
        self.key_feed: KeyFeed | None = None
        self._task: asyncio.Task | None = None
        self._keys_task: asyncio.Task | None = None
        self.metrics = MonitorMetrics(events_applied=lambda: self.feed.applied if self.feed else 0,
                                      broker_connected=lambda: self.feed is not None)

    async def start(self) -> None:
        await migrate(self.settings.database_url)
        if bootstrap := self.settings.bootstrap_key.get_secret_value():
            national = "all" in self.settings.monitor_scope
            await self.keys.create(
                name="monitor (MPX_BOOTSTRAP_KEY)", key=bootstrap, expires_at=self.settings.bootstrap_key_expires_at,
                role=Role.NATIONAL_MONITOR if national else Role.PROVINCIAL_MONITOR,
                provinces=frozenset() if national else frozenset(p[:2] for p in self.settings.monitor_scope))
        await self.trust.start()
        self._task = asyncio.create_task(self._run(), name="monitor-feed")

    async def _run(self) -> None:
        s = self.settings
        backoff = 0.5
        while True:
            try:
                provisioner = TopicProvisioner(self.kafka, s.topic_partitions, s.topic_replication,
                                               s.topic_min_insync_replicas)
                await provisioner.ensure({self.topics.monitor_topic})
                await provisioner.ensure({self.topics.keys_topic}, partitions=1, compacted=True)
                self._consumer = AIOKafkaConsumer(**self.kafka, client_id=f"mpx-{s.node_id}",
                                                  enable_auto_commit=False)
                await self._consumer.start()
                self._keys_consumer = AIOKafkaConsumer(**self.kafka, client_id=f"mpx-{s.node_id}-keys",
                                                       enable_auto_commit=False)
                await self._keys_consumer.start()
                break
            except Exception as exc:  # noqa: BLE001 - broker not there yet
                log.warning("Kafka at %s not reachable (%s); retrying", describe(self.kafka), type(exc).__name__)
                for client in (self._consumer, self._keys_consumer):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.stop()
                self._consumer = self._keys_consumer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
        self.key_feed = KeyFeed(self._keys_consumer, None, self.topics.keys_topic, self.trust)  # type: ignore[arg-type]
        self._keys_task = asyncio.create_task(self.key_feed.run(), name="keys")
        await self.key_feed.catch_up(s.key_wait_seconds)
        self.feed = MonitorFeed(self._consumer, self.topics.monitor_topic, s.topic_partitions, self.engine,
                                s.in_scope, self.trust.ring, lambda: self.key_feed.catch_up(s.key_wait_seconds))
        await self.feed.run()

    def stopped(self) -> list[str]:
        """Feeds that ended although the monitor is not stopping."""
        return sorted(t.get_name() for t in (self._task, self._keys_task) if t is not None and t.done())

    async def stop(self) -> None:
        await stop_all((self._task, self._keys_task), (self._consumer, self._keys_consumer))
        await self.engine.dispose()

    async def ready(self) -> dict[str, bool]:
        try:
            await asyncio.wait_for(ping(self.engine), 3)
            database = True
        except Exception:  # noqa: BLE001
            database = False
        return {"database": database, "broker": self.feed is not None}
