"""What local systems read: one message with its delivery state and feedback, and the inbox."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import MessageType
from exchange.domain.delivery import DeliveryState, Direction
from exchange.problems import Problem
from exchange.obligations import obligation_view
from exchange.storage.tables import messages, obligations
from exchange.timeutil import as_utc, utcnow


def _summary(row: Row, with_data: bool = True, trust: Any = None) -> dict[str, Any]:
    item = {
        "id": row.id,
        "direction": row.direction,
        "type": row.type,
        "schema_version": row.schema_version,
        "sender": row.sender,
        "receiver": row.receiver,
        "state": row.state,
        "in_reply_to": row.in_reply_to,
        "agreement_id": row.agreement_id,
        "accepted_at" if row.direction == Direction.OUT else "received_at": as_utc(row.created_at),
        "published_at": as_utc(row.published_at),
        "delivered_at": as_utc(row.delivered_at),
        "answered_at": as_utc(row.answered_at),
    }
    if with_data:
        item["envelope"] = orjson.loads(row.envelope)
        item["data"] = orjson.loads(trust.open_payload(row.payload, row.id) if trust is not None else row.payload)
    return item


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise Problem("invalid_cursor") from None


class Queries:
    def __init__(self, engine: AsyncEngine, served: frozenset[str], trust: Any = None):
        self.engine = engine
        self.served = served
        self.trust = trust  # exchange.trust.Trust: opens payloads sealed at rest

    async def message(self, message_id: str, counties: list[str]) -> dict[str, Any]:
        """A county's view of one message: its own outbound copy first, else its inbound copy."""
        visible = frozenset(counties)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(messages).where(messages.c.id == message_id))).all()
            mine = [
                r for r in rows
                if (r.direction == Direction.OUT and r.sender in visible)
                or (r.direction == Direction.IN and r.receiver in visible)
            ]
            if not mine:
                raise Problem("message_not_found", f"no message {message_id} for this node's counties",
                              f"本节点服务的县区没有编号为 {message_id} 的报文")
            row = min(mine, key=lambda r: r.direction != Direction.OUT)
            answers = (
                await conn.execute(
                    select(messages)
                    .where(messages.c.in_reply_to == message_id, messages.c.type == MessageType.FEEDBACK,
                           messages.c.direction != row.direction)
                    .order_by(messages.c.seq)
                )
            ).all()
            obligation = await conn.scalar(
                select(obligations.c.state).where(obligations.c.message_id == message_id,
                                                  obligations.c.receiver.in_(sorted(visible)))
            ) if row.direction == Direction.IN else None
        view = _summary(row, trust=self.trust)
        view["feedback"] = [_summary(a, trust=self.trust) for a in answers]
        view["obligation"] = obligation_view(obligation, utcnow()) if obligation else None
        return view

    async def inbox(self, *, counties: list[str], type_: str | None, answered: bool | None,
                    cursor: str | None, limit: int) -> dict[str, Any]:
        query = select(messages).where(messages.c.direction == Direction.IN, messages.c.receiver.in_(counties))
        if type_:
            query = query.where(messages.c.type == type_)
        if answered is True:
            query = query.where(messages.c.state == DeliveryState.ANSWERED)
        elif answered is False:
            query = query.where(messages.c.state != DeliveryState.ANSWERED, messages.c.type != MessageType.FEEDBACK)
        if cursor:
            query = query.where(messages.c.seq > decode_cursor(cursor))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(messages.c.seq).limit(limit + 1))).all()
        page = rows[:limit]
        return {
            "items": [_summary(r, trust=self.trust) for r in page],
            # Always a cursor to come back with, so a local system can poll for what arrives later.
            "next_cursor": encode_cursor(page[-1].seq) if page else cursor,
            "has_more": len(rows) > limit,
        }
