"""The Kafka broker stops for 30 seconds during steady traffic and starts again: the node keeps accepting into
its outbox up to MPX_OUTBOX_MAX_PENDING, then answers 503 with Retry-After (never 500); once the broker is back
every accepted message arrives, once."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.faults.conftest import HAISHU, HUI, db_column, db_scalar, post_steadily, wait_until

pytestmark = pytest.mark.integration

LIMIT, BATCH, EVERY = 1000, 50, 0.25  # outbox limit; messages per POST; seconds between POSTs (200/s)
OUTAGE = 30.0


async def test_a_broker_outage_fills_the_outbox_then_503_then_everything_arrives(
        spawn_node, pg_database, prefix, dedicated_kafka):
    bootstrap = dedicated_kafka.bootstrap
    sender_db, receiver_db = pg_database(), pg_database()
    receiver = spawn_node("haishu", HAISHU, receiver_db, prefix=prefix, bootstrap=bootstrap)
    sender = spawn_node("hui", HUI, sender_db, prefix=prefix, bootstrap=bootstrap, mpx_outbox_max_pending=LIMIT)
    await asyncio.gather(receiver.wait_ready(), sender.wait_ready())

    log: list[tuple[float, str, int, list[str], httpx.Response]] = []  # (time, phase, status, ids, response)
    phase = "before"
    first_refusal: dict[str, int] = {}
    stop = asyncio.Event()

    async def answered(ids: list[str], response: httpx.Response) -> None:
        log.append((time.monotonic(), phase, response.status_code, ids, response))
        if response.status_code == 503 and not first_refusal:
            first_refusal["pending"] = await db_scalar(sender_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            first_refusal["phase"] = phase

    posting = asyncio.create_task(post_steadily(sender.url, "outage", BATCH, EVERY, stop, answered))
    try:
        await asyncio.sleep(5)
        phase = "outage"
        dedicated_kafka.stop()
        stopped_at = time.monotonic()
        ready = await _readyz(sender.url, want=503)
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))
        phase = "restarting"
        dedicated_kafka.start()
        phase = "after"
        await _readyz(sender.url, want=200, timeout=90)
        await asyncio.sleep(5)
    finally:
        stop.set()
        await posting

    statuses = {status for _, _, status, _, _ in log}
    assert statuses <= {202, 503}, f"unexpected answers: {statuses}"
    refused = [entry for entry in log if entry[2] == 503]
    assert refused, "the outbox limit was never reached during the outage"
    # 503 only once the outbox was full: pending + this batch would have passed the limit.
    assert first_refusal["pending"] + BATCH > LIMIT, first_refusal
    for _, _, _, _, response in refused:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "urn:mpx:problem:service_unavailable"
        assert int(response.headers["retry-after"]) > 0
    accepted = {i for _, _, status, ids, _ in log if status == 202 for i in ids}
    refused_ids = {i for _, _, _, ids, _ in refused for i in ids}
    stored = set(await db_column(sender_db, "SELECT id FROM messages WHERE direction = 'out'"))
    assert stored == accepted and not (refused_ids & stored), "a refused request stored something"

    async def receiver_has_all_accepted():
        received = await db_column(receiver_db, "SELECT id FROM messages WHERE direction = 'in'")
        return received if len(received) >= len(accepted) else None

    received = await wait_until(receiver_has_all_accepted, timeout=180,
                                what=f"{len(accepted)} accepted records at the receiver")
    assert len(received) == len(set(received)) == len(accepted) and set(received) == accepted
    during = [e for e in log if e[1] == "outage"]
    print(f"\n[broker outage] {len(log)} POSTs of {BATCH}; broker down {OUTAGE:.0f}s; /readyz during the outage: "
          f"{ready['status_code']} broker={ready['body'].get('broker')}; during the outage "
          f"{sum(1 for e in during if e[2] == 202)} accepted and {sum(1 for e in during if e[2] == 503)} refused with "
          f"503; first 503 with {first_refusal['pending']} records pending (limit {LIMIT}); 500s: 0; "
          f"accepted {len(accepted)} messages, refused {len(refused_ids)}; receiver holds {len(received)} "
          f"({len(set(received))} distinct)")


async def _readyz(url: str, *, want: int, timeout: float = 60) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        async def check():
            response = await client.get(f"{url}/readyz")
            return {"status_code": response.status_code, "body": response.json()} if response.status_code == want else None

        return await wait_until(check, timeout=timeout, what=f"/readyz to answer {want}")
