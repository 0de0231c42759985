"""A node in the monitor role: no county of its own; it reads the monitoring topic and answers monitors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiokafka import AIOKafkaConsumer

from exchange.api.auth import Auth
from exchange.config import Settings
from exchange.security.keystore import KeyStore
from exchange.security.principals import Role
from exchange.metrics import MonitorMetrics
from exchange.monitor.feed import MonitorFeed
from exchange.monitor.queries import MonitorQueries
from exchange.sla import CalendarBook
from exchange.storage.database import create_engine, migrate, ping
from exchange.transport.admin import TopicProvisioner
from exchange.transport.connection import client_options, describe, stop_all
from exchange.transport.keys import KeyFeed
from exchange.transport.topics import TopicScheme
from exchange.security.payload_crypto import PayloadCipher
from exchange.trust import Trust

log = logging.getLogger(__name__)


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
        self.keys = KeyStore(self.engine)
        self.auth = Auth(settings, self.keys)
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
        self.auth.metrics = self.metrics

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
                provisioner = TopicProvisioner(self.kafka, s.topic_partitions, s.topic_replication)
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
        feed = MonitorFeed(self._consumer, self.topics.monitor_topic, s.topic_partitions, self.engine,
                           s.in_scope, self.trust.ring)
        feed.refresh_keys = lambda: self.key_feed.catch_up(s.key_wait_seconds)
        self.feed = feed
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
