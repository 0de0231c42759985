"""A node in the monitor role: no county of its own; it reads the monitoring topic and answers monitors."""

from __future__ import annotations

import asyncio
import contextlib
import logging

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
from exchange.transport.connection import client_options, describe
from exchange.transport.topics import TopicScheme

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
        self._task: asyncio.Task | None = None
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
        self._task = asyncio.create_task(self._run(), name="monitor-feed")

    async def _run(self) -> None:
        s = self.settings
        backoff = 0.5
        while True:
            try:
                await TopicProvisioner(self.kafka, s.topic_partitions, s.topic_replication).ensure(
                    {self.topics.monitor_topic})
                self._consumer = AIOKafkaConsumer(**self.kafka, client_id=f"mpx-{s.node_id}",
                                                  enable_auto_commit=False)
                await self._consumer.start()
                break
            except Exception as exc:  # noqa: BLE001 - broker not there yet
                log.warning("Kafka at %s not reachable (%s); retrying", describe(self.kafka), type(exc).__name__)
                if self._consumer is not None:
                    with contextlib.suppress(Exception):
                        await self._consumer.stop()
                    self._consumer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
        self.feed = MonitorFeed(self._consumer, self.topics.monitor_topic, s.topic_partitions, self.engine,
                                s.in_scope)
        await self.feed.run()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        await self.engine.dispose()

    async def ready(self) -> dict[str, bool]:
        try:
            await asyncio.wait_for(ping(self.engine), 3)
            database = True
        except Exception:  # noqa: BLE001
            database = False
        return {"database": database, "broker": self.feed is not None}
