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

    def address(self, county: str) -> tuple[str, int]:
        return self.topic_for(county), self.partition_for(county)
