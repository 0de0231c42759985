"""Topic and partition scheme.

One topic per destination province, ``<prefix>.records.<2-digit province code>``
(e.g. ``mpx.v1.records.33`` for everything addressed to Zhejiang). The record key
is the destination county code and the partition is Kafka's own default
(murmur2(key) mod partitions, the Java client's formula), computed here so the
consumer can assign exactly the partitions its counties hash to. So all records
for one county share one partition and keep their order, and a provincial node
group can consume its province's topic alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.partitioner import murmur2


@dataclass(frozen=True)
class TopicScheme:
    prefix: str
    partitions: int

    def topic_for(self, county: str) -> str:
        return f"{self.prefix}.records.{county[:2]}"

    def partition_for(self, county: str) -> int:
        return (murmur2(county.encode()) & 0x7FFFFFFF) % self.partitions

    def is_records_topic(self, topic: str) -> bool:
        return topic.startswith(f"{self.prefix}.records.")

    def address(self, county: str) -> tuple[str, int]:
        return self.topic_for(county), self.partition_for(county)

    @property
    def monitor_topic(self) -> str:
        """Obligation lifecycle events (no personal field), keyed by receiving county."""
        return f"{self.prefix}.monitor"

    @property
    def reminders_topic(self) -> str:
        """Reminders of obligations about to fall (or fallen) overdue, keyed by receiving county."""
        return f"{self.prefix}.reminders"

    @property
    def agreements_topic(self) -> str:
        """Cooperation agreements, compacted, keyed by id and version; every node reads it whole."""
        return f"{self.prefix}.agreements"

    @property
    def keys_topic(self) -> str:
        """Public signing keys of every county, compacted, keyed by "<county>:<key id>"; every node reads it whole."""
        return f"{self.prefix}.keys"

    @property
    def deadletter_topic(self) -> str:
        """Records a node could never process, with the reason in mpx_dlq_* headers, keyed by receiving county."""
        return f"{self.prefix}.deadletter"
