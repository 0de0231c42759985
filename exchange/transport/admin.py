"""Creating the topics a node writes to or reads from, once, before first use."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


class TopicProvisioner:
    def __init__(self, bootstrap: str, partitions: int, replication: int):
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.replication = replication
        self.known: set[str] = set()

    async def ensure(self, topics: set[str]) -> None:
        missing = topics - self.known
        if not missing:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            to_create = [
                NewTopic(name=t, num_partitions=self.partitions, replication_factor=self.replication)
                for t in sorted(missing - existing)
            ]
            if to_create:
                try:
                    response = await admin.create_topics(to_create)
                    log.info("created topics %s", [t.name for t in to_create])
                    del response
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()
        self.known |= missing
