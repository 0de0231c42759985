"""A provincial node's two replicas consume the province's topic as one Kafka consumer group: the partitions are
split between them, a rebalance drains before giving partitions up, and when one replica is killed the other
takes its partitions over from the positions in the database. Every record is stored once."""

from __future__ import annotations

import asyncio
import re
import signal

import httpx
import pytest

from tests.faults.conftest import AUTH, HUI, db_column, outflow, wait_until

pytestmark = pytest.mark.integration

# Zhejiang counties, one on each of the 8 partitions of mpx.*.records.33
ZHEJIANG = ["330108", "330102", "330109", "330105", "330122", "330110", "330205", "330203"]
PER_COUNTY = 250


async def test_a_provincial_group_splits_the_topic_and_survives_losing_a_member(spawn_node, pg_database, prefix,
                                                                                kafka_bootstrap):
    province_db, sender_db = pg_database(), pg_database()
    group = f"{prefix}-zhejiang"
    members = [spawn_node(f"zhejiang#{n}", ",".join(ZHEJIANG), province_db, prefix=prefix, bootstrap=kafka_bootstrap,
                          mpx_consumer_group=group) for n in (1, 2)]
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=kafka_bootstrap)
    await asyncio.gather(*(node.wait_ready() for node in members + [sender]))
    shares = await wait_until(lambda: _split(members), timeout=60, what="the group to split the 8 partitions")

    load = [[outflow(n, f"prov-{county}-{n:04d}", receiver=county) for n in range(PER_COUNTY)] for county in ZHEJIANG]
    everything = {m["id"] for batch in load for m in batch}
    async with httpx.AsyncClient(base_url=sender.url, timeout=120, headers=AUTH) as client:
        for batch in load:
            response = await client.post("/v1/messages/batch", json={"messages": batch})
            assert response.status_code == 202, response.text

    count_in = "SELECT id FROM messages WHERE direction = 'in'"
    at_kill = len(await wait_until(lambda: _at_least(province_db, count_in, 300), timeout=120,
                                   what="the group part-way through the load", every=0.05))
    members[0].kill()
    received = await wait_until(lambda: _at_least(province_db, count_in, len(everything)), timeout=120,
                                what=f"all {len(everything)} records stored by the remaining member")
    assert len(received) == len(set(received)) == len(everything) and set(received) == everything
    taken_over = _partitions(members[1].log_text())
    print(f"\n[provincial group] 2 members of group {group}; partitions split {shares}; sent {len(everything)} to "
          f"{len(ZHEJIANG)} counties; member 1 killed with {at_kill} stored; member 2 then consumed "
          f"{taken_over} partitions; stored {len(received)} ({len(set(received))} distinct)")
    assert taken_over == 8
    assert members[1].terminate() in (0, -signal.SIGTERM)
    # When member 1 vanished, member 2's share was revoked (after its batch in flight) and reassigned with the rest.
    assert re.search(r"giving up \d+ partitions \(rebalance\), drained", members[1].log_text())


def _partitions(log: str) -> int | None:
    found = re.findall(r"consuming (\d+) partitions \(group\)", log)
    return int(found[-1]) if found else None


def _split(members) -> list[int] | None:  # noqa: ANN001
    shares = [_partitions(m.log_text()) for m in members]
    return shares if None not in shares and sum(shares) == 8 and min(shares) > 0 else None


async def _at_least(url: str, sql: str, n: int) -> list | None:
    rows = await db_column(url, sql)
    return rows if len(rows) >= n else None
