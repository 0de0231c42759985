"""Moving sent messages forward through their delivery states, many at a time, in one statement each."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.domain.delivery import DeliveryState, Direction, states_before
from exchange.storage.tables import messages

#: Ids per UPDATE (bound parameters stay well under the databases' limits).
CHUNK = 1000


async def advance_sent(conn: AsyncConnection, message_ids: Sequence[str | None], state: DeliveryState, stamp: str,
                       now: datetime) -> None:
    """Stamp when each message first reached `state` (column `stamp`), and move its state there, never back.

    One UPDATE per chunk sets both: the stamp only where it is empty, the state only where it is earlier (a
    feedback may overtake its delivery receipt)."""
    column = messages.c[stamp]
    earlier = messages.c.state.in_(states_before(state))
    ids = [i for i in dict.fromkeys(message_ids) if i is not None]
    for start in range(0, len(ids), CHUNK):
        await conn.execute(
            update(messages)
            .where(and_(messages.c.id.in_(ids[start:start + CHUNK]), messages.c.direction == Direction.OUT,
                        or_(column.is_(None), earlier)))
            .values({stamp: func.coalesce(column, now), "state": case((earlier, state), else_=messages.c.state)})
        )
