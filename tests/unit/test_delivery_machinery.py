"""Relay claims, the outbox limit and the reconciliation contract, on a real SQLite database (no broker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import insert, update

from contracts import CONTROL_TYPES, RECORD_TYPES, MessageType, validate_payload
from contracts.examples import example_payload
from contracts.payloads.reconciliation import MAX_IDS, ids_sha256
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.relay import Relay
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.metrics import NullMetrics
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.tables import outbox
from exchange.adapters.unit_of_work import Outbox, SqlUnitOfWork
from exchange.domain.clock import utcnow
from exchange.domain.commands import SUBMITTABLE
from exchange.domain.problems import Problem
from exchange.service.backpressure import OutboxLimit


@pytest.fixture
async def engine(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def add_pending(engine, partition_of_each: list[int]) -> None:  # noqa: ANN001
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(insert(outbox), [
            {"message_id": f"m{n}", "topic": "t.records.33", "partition": p, "key": "330203", "headers": "[]",
             "value": b"{}", "created_at": now, "attempts": 0}
            for n, p in enumerate(partition_of_each)
        ])


def relay(engine, name: str, lease: float = 30.0) -> Relay:  # noqa: ANN001
    """A relay that only claims here (no broker): its other collaborators are never reached."""
    trust = Trust(engine, PayloadCipher.from_setting(""))
    topics = TopicScheme("t", 8)
    return Relay(engine, lambda: SqlUnitOfWork(engine, Outbox(topics, trust, name), NullMetrics()),
                 provisioner=None, topics=topics, trust=trust, metrics=NullMetrics(), batch=3, idle_seconds=1,
                 instance=name, lease_seconds=lease)


async def test_two_relays_never_claim_the_same_record_nor_interleave_a_partition(engine):
    await add_pending(engine, [1, 1, 1, 1, 2, 2])
    a, b = relay(engine, "a"), relay(engine, "b")

    first = await a._claim()
    assert [r.message_id for r in first] == ["m0", "m1", "m2"]  # partition 1, in order
    second = await b._claim()
    assert [r.message_id for r in second] == ["m4", "m5"]  # partition 1 is a's until a is done with it
    assert {r.partition for r in await b._claim()} == {2}  # b again: still nothing of partition 1
    again = await a._claim()  # a relay takes its own claims back (after a failed send, or a restart)
    assert [r.message_id for r in again] == ["m0", "m1", "m2"]

    await a._mark_published(first)
    taken = await b._claim()
    assert [r.message_id for r in taken][:1] == ["m3"]  # partition 1's next record, now free


async def test_an_expired_claim_is_taken_over(engine):
    await add_pending(engine, [1, 1])
    a, b = relay(engine, "a"), relay(engine, "b")
    await a._claim()
    assert await b._claim() == []
    async with engine.begin() as conn:  # a died: its lease runs out
        await conn.execute(update(outbox).values(claim_expires_at=utcnow() - timedelta(seconds=1)))
    assert [r.message_id for r in await b._claim()] == ["m0", "m1"]


async def test_the_outbox_limit_refuses_with_503_and_retry_after(engine):
    await add_pending(engine, [1, 1, 1, 1])
    limit = OutboxLimit(5, broker_away=lambda: True)
    async with engine.begin() as conn:
        await limit(conn, 1)
        with pytest.raises(Problem) as refused:
            await limit(conn, 2)
    assert refused.value.status == 503 and refused.value.code == "service_unavailable"
    assert refused.value.headers["Retry-After"] == "30" and "unreachable" in refused.value.detail_en


def test_control_types_open_no_obligation_and_cannot_be_posted():
    assert {MessageType.RECONCILIATION_DIGEST, MessageType.RESEND_REQUEST} <= CONTROL_TYPES
    assert not CONTROL_TYPES & RECORD_TYPES and not CONTROL_TYPES & set(SUBMITTABLE)


def test_a_digest_must_agree_with_its_ids():
    digest = example_payload(MessageType.RECONCILIATION_DIGEST, seed=3)
    assert validate_payload(MessageType.RECONCILIATION_DIGEST, "1.0", digest)
    assert digest["sha256"] == ids_sha256(reversed(digest["ids"]))  # order does not matter: sorted first
    for broken in (
        {**digest, "count": digest["count"] + 1, "total": digest["total"] + 1},
        {**digest, "sha256": ids_sha256(["something-else"])},
        {**digest, "ids": [digest["ids"][0]] * digest["count"]},
        {**digest, "part": 2},
    ):
        with pytest.raises(ValidationError):
            validate_payload(MessageType.RECONCILIATION_DIGEST, "1.0", broken)
    with pytest.raises(ValidationError):
        validate_payload(MessageType.RESEND_REQUEST, "1.0", {"digest_id": "d", "day": digest["day"],
                                                              "ids": ["x"] * (MAX_IDS + 1)})
