"""The webhook outbox: each event a county's subscriptions ask for becomes one delivery row per subscription, in
the transaction that records the event (the unit of work calls `store`), so a node killed at any moment loses none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import webhook_deliveries, webhook_subscriptions
from exchange.domain.events import CountyNotice
from exchange.domain.webhooks import State, WebhookDeliveryState, kind_of

_KEYED = uuid.UUID("6f1c2a9e-3b7d-4e58-9a0c-1d2e3f405162")


def event_id(notice: CountyNotice) -> str:
    """The webhook-id: random, or derived from the notice's key (the same key, the same id: announced once)."""
    value = uuid.uuid5(_KEYED, f"{notice.county}|{notice.key}") if notice.key else uuid.uuid4()
    return f"msg_{value.hex}"


async def store(conn: AsyncConnection, notices: Sequence[CountyNotice], now: datetime) -> int:
    """Delivery rows for `notices`, one per subscription of its county that wants its kind and is not disabled (a
    paused one holds them); returns how many rows were new."""
    counties = sorted({n.county for n in notices})
    subscriptions = (await conn.execute(select(
        webhook_subscriptions.c.id, webhook_subscriptions.c.county, webhook_subscriptions.c.kinds).where(
        webhook_subscriptions.c.county.in_(counties),
        webhook_subscriptions.c.state != State.DISABLED.value))).all()
    if not subscriptions:
        return 0
    rows = []
    for notice in notices:
        kind = kind_of(notice.type)
        ident = event_id(notice)
        body = orjson.dumps(notice.body).decode() if notice.body is not None else None
        rows += [{"subscription_id": s.id, "event_id": ident, "county": notice.county, "type": notice.type,
                  "sender": notice.sender, "receiver": notice.receiver, "message_id": notice.message_id,
                  "body": body, "created_at": now, "state": WebhookDeliveryState.PENDING.value, "attempts": 0,
                  "next_attempt_at": now}
                 for s in subscriptions if s.county == notice.county and kind is not None
                 and kind.value in s.kinds.split(",")]
    if not rows:
        return 0
    result = await conn.execute(insert_ignoring_duplicates(conn, webhook_deliveries, "subscription_id", "event_id"),
                                rows)
    return max(result.rowcount, 0)
