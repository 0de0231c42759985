"""What the control feeds (keys, agreements, monitoring) share: the broker's append time of a record, and
setting a bad control record aside in the quarantine table without stopping the feed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.crypto.trust import quarantine_context
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import quarantine
from exchange.domain.clock import on_node_clock, utcnow

log = logging.getLogger(__name__)

#: aiokafka's timestamp_type of a record whose timestamp the broker set (topic config LogAppendTime).
LOG_APPEND_TIME = 1


def appended_at(timestamp: int | None, timestamp_type: int | None) -> datetime | None:
    """When the broker appended a record, on this node's clock; None if the topic keeps the producer's own
    time (CreateTime), which its sender chooses: the receiver's clock stands in then."""
    if timestamp is None or timestamp < 0 or timestamp_type != LOG_APPEND_TIME:
        return None
    return on_node_clock(datetime.fromtimestamp(timestamp / 1000, UTC))


async def set_aside(conn: AsyncConnection, record, code: str, reason: str,  # noqa: ANN001 - a ConsumerRecord
                    seal: Callable[[bytes, str], bytes] | None = None) -> None:
    """Keep a control record that was refused in the quarantine table with its reason code (once per offset)."""
    log.warning("control record %s/%d@%d set aside: %s", record.topic, record.partition, record.offset, code)
    headers: Sequence[tuple[str, bytes]] = record.headers or ()
    value = record.value
    context = quarantine_context(record.topic, record.partition, record.offset)
    await conn.execute(insert_ignoring_duplicates(conn, quarantine, "topic", "partition", "offset").values(
        topic=record.topic, partition=record.partition, offset=record.offset,
        key=record.key.decode(errors="replace")[:128] if isinstance(record.key, bytes) else record.key,
        message_id=None, reason_code=code, reason=reason[:500],
        headers=orjson.dumps([[k, v.decode(errors="replace")] for k, v in headers]).decode(),
        value=seal(value, context) if seal is not None and value is not None else value,
        received_at=utcnow()))
