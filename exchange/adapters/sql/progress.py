"""Moving sent messages forward through their delivery states, many at a time, in one statement each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple, Sequence, TypeVar

import orjson
from sqlalchemy import ColumnElement, and_, case, func, or_, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.tables import messages
from exchange.domain.delivery import DeliveryState, Direction, states_before

#: Messages or ids per statement (bound parameters stay well under the databases' limits).
CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Sent(NamedTuple):
    """A message one of this node's counties sent: ids are the sender's own, so the sender is part of the name
    (and the receiver too, so that only the counterpart's reply moves it)."""

    sender: str
    receiver: str
    id: str


def replied_to(sender: str, receiver: str, in_reply_to: str | None) -> Sent | None:
    """The message a reply from `sender` to `receiver` answers: one `receiver` sent to `sender`."""
    return Sent(receiver, sender, in_reply_to) if in_reply_to else None


def outbox_sender(headers: str) -> str | None:
    """The sending county of an outbox record (its ce_senderregion header); None for records that are no message."""
    return next((value for name, value in orjson.loads(headers) if name == "ce_senderregion"), None)


def sent_among(chunk: Sequence[Sent]) -> ColumnElement[bool]:
    """The messages rows of these sent messages (the id list first: it lets the database use its index)."""
    return and_(messages.c.id.in_(sorted({s.id for s in chunk})), messages.c.direction == Direction.OUT,
                tuple_(messages.c.sender, messages.c.receiver, messages.c.id).in_(list(chunk)))


def received_among(chunk: Sequence[Sent]) -> ColumnElement[bool]:
    """The messages rows of these messages as their receiver keeps them (sender, receiver, id; inbound)."""
    return and_(messages.c.id.in_(sorted({s.id for s in chunk})), messages.c.direction == Direction.IN,
                tuple_(messages.c.sender, messages.c.receiver, messages.c.id).in_(list(chunk)))


async def advance_sent(conn: AsyncConnection, sent: Sequence[Sent | None], state: DeliveryState, stamp: str,
                       now: datetime) -> None:
    """Stamp when each message first reached `state` (column `stamp`), and move its state there, never back.

    One UPDATE per chunk sets both: the stamp only where it is empty, the state only where it is earlier (a
    feedback may overtake its delivery receipt)."""
    column = messages.c[stamp]
    earlier = messages.c.state.in_(states_before(state))
    for chunk in chunks([s for s in dict.fromkeys(sent) if s is not None]):
        await conn.execute(
            update(messages)
            .where(and_(sent_among(chunk), or_(column.is_(None), earlier)))
            .values({stamp: func.coalesce(column, now), "state": case((earlier, state), else_=messages.c.state)})
        )
