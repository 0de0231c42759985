"""One exchange node: database, outbox relay and inbound consumer, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.config import Settings
from exchange.inbound import Inbound
from exchange.outbound import Outbound
from exchange.storage.database import create_engine, migrate, ping
from exchange.transport.admin import TopicProvisioner
from exchange.transport.consumer import Consumer
from exchange.transport.relay import Relay
from exchange.transport.topics import TopicScheme

log = logging.getLogger(__name__)


class Node:
    """The HTTP API works as soon as the database is up; Kafka may come later (the outbox holds the records)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.topics = TopicScheme(settings.topic_prefix, settings.topic_partitions)
        self.engine: AsyncEngine = create_engine(settings.database_url)
        self.provisioner = TopicProvisioner(
            settings.kafka_bootstrap_servers, settings.topic_partitions, settings.topic_replication
        )
        self.relay = Relay(self.engine, self.provisioner, settings.relay_batch, settings.relay_idle_seconds)
        self.outbound = Outbound(settings, self.engine, self.topics, self.relay.wake)
        self.inbound = Inbound(settings, self.engine, self.topics)
        self.consumer: Consumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._kafka_consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task] = []
        self.broker_connected = False

    async def start(self) -> None:
        await migrate(self.settings.database_url)
        self._tasks.append(asyncio.create_task(self._run_transport(), name="transport"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for client in (self._kafka_consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        await self.engine.dispose()

    async def ready(self) -> dict[str, bool]:
        database = True
        try:
            await asyncio.wait_for(ping(self.engine), 3)
        except Exception:  # noqa: BLE001 - any failure means not ready
            database = False
        broker = False
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
                log.warning("Kafka at %s not reachable (%s); retrying", s.kafka_bootstrap_servers, type(exc).__name__)
                for client in (self._kafka_consumer, self._producer):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.stop()
                self._producer = self._kafka_consumer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
        self.broker_connected = True
        log.info("node %s connected to Kafka, serving %s", s.node_id, ",".join(s.counties))
        relay_task = asyncio.create_task(self.relay.run(self._producer), name="relay")
        consumer_task = asyncio.create_task(self.consumer.run(), name="consumer")
        for task in (relay_task, consumer_task):
            task.add_done_callback(_log_crash)
        self._tasks += [relay_task, consumer_task]

    async def _connect(self) -> None:
        s = self.settings
        partitions = {TopicPartition(*self.topics.address(county)) for county in s.counties}
        await self.provisioner.ensure({tp.topic for tp in partitions})
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"mpx-{s.node_id}",
            enable_idempotence=s.kafka_idempotent,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await self._producer.start()
        self._kafka_consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"mpx-{s.node_id}",
            group_id=f"mpx-node-{s.node_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._kafka_consumer.start()
        self.consumer = Consumer(
            self._kafka_consumer, self.inbound, self.engine, partitions, s.consume_batch, on_stored=self.relay.wake
        )


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())
