"""Figure 4 (breadth): one node serving 1, 100 and all 2,849 current county-level codes (python-stdnum's GB/T 2260
table): start-up time to /readyz (first start: empty database and new topics; restart: both exist),
resident memory idle and under load, and ingest throughput with the senders spread over the served counties.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from tests.benchmarks import ingest
from tests.benchmarks.common import NodeProcess, rss_mib
from tests.benchmarks.synthetic import all_counties


def served(n: int) -> list[str]:
    counties = list(all_counties())
    if n == 1:
        return ["621227"]
    if n >= len(counties):
        return counties
    return sorted(random.Random(2850).sample(counties, n))


async def breadth(n: int, database_url: str, bootstrap: str, *, messages: int) -> dict[str, Any]:
    counties = served(n)
    prefix = f"benchbr{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {"counties": len(counties)}
    node = NodeProcess(f"breadth-{len(counties)}", counties, database_url, bootstrap, prefix)
    node.start()
    try:
        result["start_seconds_first"] = round(await node.wait_ready(), 2)
    finally:
        node.stop()
    node = NodeProcess(f"breadth-{len(counties)}", counties, database_url, bootstrap, prefix, port=node.port)
    node.start()
    try:
        result["start_seconds_restart"] = round(await node.wait_ready(), 2)
        await asyncio.sleep(3)
        result["rss_idle_mib"] = rss_mib(node.pid)
        load = await ingest.node_ingest("postgresql", database_url, bootstrap, messages=messages,
                                        senders=counties[: min(len(counties), 500)], node=node)
        result.update({k: load[k] for k in ("accepted_per_s", "published_per_s", "rss_under_load_mib", "failures",
                                            "node_cpu_ms_per_message")})
    finally:
        node.stop()
    return result
