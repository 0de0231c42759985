"""Creating the topics a node writes to or reads from, once, before first use."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)

#: The broker stamps every record with its own clock: a time no sender can choose (key validity, ce_time bounds).
TIME_CONFIG = {"message.timestamp.type": "LogAppendTime"}


class TopicProvisioner:
    """Takes the node's client options (exchange.adapters.kafka.connection), so it authenticates like the rest."""

    def __init__(self, options: Mapping[str, Any], partitions: int, replication: int, min_insync: int | None = None):
        self.options = dict(options)
        self.partitions = partitions
        self.replication = replication
        # None: the broker's default (a cluster's operator may have set it higher than any node would).
        self.configs = {**TIME_CONFIG, **({"min.insync.replicas": str(min_insync)} if min_insync else {})}
        self.known: set[str] = set()

    async def ensure(self, topics: set[str], *, partitions: int | None = None, compacted: bool = False) -> None:
        missing = topics - self.known
        if not missing:
            return
        admin = AIOKafkaAdminClient(**self.options)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            to_create = [
                NewTopic(name=t, num_partitions=partitions or self.partitions, replication_factor=self.replication,
                         topic_configs={**self.configs, **({"cleanup.policy": "compact"} if compacted else {})})
                for t in sorted(missing - existing)
            ]
            if to_create:
                try:
                    response = await admin.create_topics(to_create)
                except TopicAlreadyExistsError:
                    response = None
                for name, code, *_ in getattr(response, "topic_errors", ()):
                    if code not in (0, TopicAlreadyExistsError.errno):  # another node may have just made it
                        raise for_code(code)(f"creating topic {name}")
                log.info("ensured topics %s", sorted(t.name for t in to_create))
        finally:
            await admin.close()
        self.known |= missing
