"""Records for one county always land in one partition of its province's topic."""

from aiokafka.partitioner import DefaultPartitioner

from exchange.adapters.kafka.topics import TopicScheme

scheme = TopicScheme("mpx.v1", 8)


def test_the_topic_is_the_destination_province():
    assert scheme.topic_for("330203") == "mpx.v1.records.33"
    assert scheme.topic_for("621227") == "mpx.v1.records.62"
    assert scheme.topic_for("542526") == "mpx.v1.records.54"


def test_the_partition_is_kafkas_default_for_the_county_key():
    partitions = list(range(8))
    for county in ("330203", "621227", "542526", "110101"):
        assert scheme.partition_for(county) == DefaultPartitioner()(county.encode(), partitions, partitions)


def test_the_partition_is_stable_and_in_range():
    assert scheme.partition_for("330203") == scheme.partition_for("330203")
    assert all(0 <= TopicScheme("p", n).partition_for("330203") < n for n in (1, 3, 8, 64))
