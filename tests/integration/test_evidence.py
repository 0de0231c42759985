"""The evidence chain: what happened to a case can be proven afterwards, to a third party."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from contracts import MessageType
from exchange.adapters.crypto.bundle import check_bundle, export_bundle, signing_key_for_case
from exchange.adapters.crypto.evidence import entries, verify
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message


async def test_a_case_is_proven_by_a_signed_bundle_and_tampering_shows(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    record = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    await eventually(lambda: _answerable(haishu, record), what="the record at Haishu")
    answer = await haishu.client.answer(record, feedback("confirmed"))
    await eventually(lambda: _events(hui, record, {"accepted", "published"}), what="Hui's evidence")
    await eventually(lambda: _events(haishu, record, {"received"}), what="Haishu's evidence")
    await eventually(lambda: _events(haishu, answer, {"answered", "published"}), what="the answer's evidence")

    for node in (hui, haishu):
        checked, broken = await verify(node.node.engine)
        assert broken is None and checked >= 3
    chain = await entries(haishu.node.engine, [record, answer])
    assert {e["event"] for e in chain} >= {"received", "answered", "published"}
    assert all(e["principal"] for e in chain)  # who did it is always recorded

    key = await signing_key_for_case(haishu.node.engine, haishu.settings, record)
    bundle = await export_bundle(haishu.node.engine, haishu.settings.node_id, record, key)
    assert check_bundle(bundle) == []
    forged = orjson.loads(bundle)
    forged["entries"][0]["at"] = "2026-01-01T00:00:00+00:00"  # claim it was received earlier
    assert check_bundle(orjson.dumps(forged))
    resigned = orjson.loads(bundle)
    resigned["message_id"] = "another-case"
    assert any("signature" in p for p in check_bundle(orjson.dumps(resigned)))


async def test_the_cli_verifies_the_chain_and_finds_a_changed_entry(federation: Federation, database_kind):
    if database_kind != "sqlite":
        pytest.skip("the CLI reads the same tables on PostgreSQL; one database kind is enough here")
    hui = await federation.start(HUI)
    await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    env = {**os.environ, "DATABASE_URL": hui.settings.database_url}
    ok = subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", "evidence", "verify"], env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "intact" in ok.stdout
    async with hui.node.engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE audit_log SET principal = 'someone-else' WHERE seq = 1"))
    broken = subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", "evidence", "verify"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "broken at entry 1" in broken.stdout


async def _answerable(node, message_id: str) -> bool:  # noqa: ANN001
    return any(i["id"] == message_id for i in await node.client.inbox_all())


async def _events(node, message_id: str, wanted: set[str]) -> bool:  # noqa: ANN001
    return wanted <= {e["event"] for e in await entries(node.node.engine, [message_id])}
