"""Attack: a node's operator rewrites its evidence chain. The chain is unkeyed and stays on the node, so an
operator who edits an entry (say, that a record was received a day earlier) and recomputes every later hash passes
`mpx evidence verify`. Each delivery receipt and reconciliation digest now carries the node's chain head, its peers keep them, and
`mpx evidence verify --heads` checks the chain against the heads the peers hold: the rewrite shows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from contracts import MessageType
from exchange.adapters.crypto.audit import GENESIS, entry_hash
from exchange.adapters.crypto.evidence import entries
from exchange.adapters.sql.tables import audit_log, peer_chain_heads
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import HAISHU, HUI, message

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "evidence-heads-admin-token-0123456789"


def mpx(node: RunningNode, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": node.settings.database_url}
    return subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def rewrite_history(node: RunningNode, seq: int, at: str) -> None:
    """What a node operator with database access can do: change one entry, then recompute every hash after it."""
    chain = await entries(node.node.engine)
    previous = GENESIS
    async with node.node.engine.begin() as conn:
        for entry in chain:
            if entry["seq"] == seq:
                entry["at"] = at
            fresh = entry_hash(previous, entry)
            if entry["seq"] == seq:
                await conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(
                    at=datetime.fromisoformat(at), prev_hash=previous, hash=fresh))
            elif entry["seq"] > seq:
                await conn.execute(update(audit_log).where(audit_log.c.seq == entry["seq"]).values(
                    prev_hash=previous, hash=fresh))
            previous = fresh


async def heads_held(node: RunningNode) -> int:
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(peer_chain_heads))


async def test_a_rewritten_chain_passes_alone_but_not_against_the_heads_its_peers_hold(
        federation: Federation, database_kind: str, tmp_path: Path):
    if database_kind != "sqlite":
        pytest.skip("the CLI and the rewrite read the same tables on PostgreSQL; one database kind is enough here")
    hui = await federation.start(HUI, admin_token=ADMIN_TOKEN)
    haishu = await federation.start(HAISHU)
    sent = [await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed)) for seed in (81, 82)]
    for message_id in sent:
        await eventually(lambda i=message_id: in_inbox(haishu, i), what="the records at 330203")
    await eventually(lambda: _delivered(hui, sent), what="receipts back at 621227")
    assert await heads_held(hui) >= 1

    heads = tmp_path / "heads-of-haishu.json"
    exported = await asyncio.to_thread(mpx, hui, "evidence", "heads", "--node", haishu.settings.node_id,
                                       "--out", str(heads))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    honest = await asyncio.to_thread(mpx, haishu, "evidence", "verify", "--heads", str(heads))
    assert honest.returncode == 0 and "matching" in honest.stdout, honest.stdout + honest.stderr

    received = [e for e in await entries(haishu.node.engine, [sent[0]]) if e["event"] == "received"][0]
    await rewrite_history(haishu, received["seq"], "2026-01-01T00:00:00+00:00")
    alone = await asyncio.to_thread(mpx, haishu, "evidence", "verify")
    assert alone.returncode == 0 and "intact" in alone.stdout  # the attack succeeds against the chain alone
    caught = await asyncio.to_thread(mpx, haishu, "evidence", "verify", "--heads", str(heads))
    assert caught.returncode == 1 and "differs from what its peers hold" in caught.stdout, caught.stdout

    # The other way: 621227's reconciliation digests carry its head to 330203, which keeps it like a receipt's.
    run = await hui.http.post("/v1/reconciliation/run", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert run.status_code == 202, run.text
    await eventually(lambda: _heads_of(haishu, hui.settings.node_id), what="621227's head from its digest")
    of_hui = tmp_path / "heads-of-hui.json"
    assert (await asyncio.to_thread(mpx, haishu, "evidence", "heads", "--node", hui.settings.node_id,
                                    "--out", str(of_hui))).returncode == 0
    assert (await asyncio.to_thread(mpx, hui, "evidence", "verify", "--heads", str(of_hui))).returncode == 0


async def _heads_of(node: RunningNode, node_id: str) -> int:
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(peer_chain_heads)
                                 .where(peer_chain_heads.c.node_id == node_id))


async def _delivered(node: RunningNode, ids: list[str]) -> bool:
    return all([(await node.client.message(i))["state"] in ("delivered", "answered") for i in ids])
