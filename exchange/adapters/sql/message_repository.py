"""Messages as the node keeps them (table ``messages``), as the sending use case reads and writes them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.dialect import hold_chain
from exchange.adapters.sql.progress import chunks
from exchange.adapters.sql.tables import messages
from exchange.domain.delivery import DeliveryState, Direction


class MessageRepository:
    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Message rows (`Outgoing.message_row`), in one statement.

        Received rows are stored holding the chain lock until the transaction ends (it writes evidence anyway, and
        takes the same lock then): two transactions storing received records at once (replicas, a provincial
        group, a replay) would otherwise commit a lower seq after a higher one, and a local system following
        GET /v1/inbox's cursor past the higher one would never see the lower."""
        if rows:
            if any(row["direction"] == Direction.IN for row in rows):
                await hold_chain(self.conn)
            await self.conn.execute(insert(messages), list(rows))

    async def sent_hashes(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Content hashes of the messages already accepted under these (sender, id)."""
        found: dict[tuple[str, str], str] = {}
        for chunk in chunks(list(keys)):
            rows = await self.conn.execute(
                select(messages.c.sender, messages.c.id, messages.c.content_hash).where(
                    messages.c.direction == Direction.OUT, messages.c.id.in_(sorted({i for _, i in chunk})),
                    tuple_(messages.c.sender, messages.c.id).in_(chunk)))
            found.update({(r.sender, r.id): r.content_hash for r in rows})
        return found

    async def received_from(self, sender: str, receiver: str, message_id: str) -> Row | None:
        """The type and withdrawal time of message `message_id` that `receiver` received from `sender`, if it did."""
        return (await self.conn.execute(select(messages.c.type, messages.c.withdrawn_at).where(
            messages.c.id == message_id, messages.c.direction == Direction.IN,
            messages.c.sender == sender, messages.c.receiver == receiver))).first()

    async def received(self, message_id: str, receivers: Iterable[str], sender: str | None = None) -> list[Row]:
        """Copies of inbound message `message_id` received by `receivers` (from `sender`, if given)."""
        query = select(messages.c.direction, messages.c.sender, messages.c.receiver, messages.c.agreement_id,
                       messages.c.type, messages.c.in_reply_to, messages.c.answered_at).where(
            messages.c.id == message_id, messages.c.direction == Direction.IN,
            messages.c.receiver.in_(sorted(receivers)))
        if sender is not None:
            query = query.where(messages.c.sender == sender)
        return list((await self.conn.execute(query)).all())

    async def mark_answered(self, sender: str, receiver: str, message_id: str, at: datetime) -> None:
        """The first feedback answers the message `receiver` received from `sender`; later ones change nothing."""
        await self.conn.execute(
            update(messages).where(messages.c.id == message_id, messages.c.direction == Direction.IN,
                                   messages.c.sender == sender, messages.c.receiver == receiver,
                                   messages.c.answered_at.is_(None))
            .values(state=DeliveryState.ANSWERED, answered_at=at))

    async def sent(self, message_id: str, senders: Iterable[str], sender: str | None = None) -> list[Row]:
        """Copies of outbound message `message_id` sent by `senders` (only `sender`, if given)."""
        query = select(messages.c.direction, messages.c.id, messages.c.type, messages.c.sender, messages.c.receiver,
                       messages.c.agreement_id, messages.c.state, messages.c.answered_at,
                       messages.c.withdrawn_at, messages.c.in_reply_to).where(
            messages.c.id == message_id, messages.c.direction == Direction.OUT,
            messages.c.sender.in_(sorted(senders)))
        if sender is not None:
            query = query.where(messages.c.sender == sender)
        return list((await self.conn.execute(query)).all())

    async def mark_withdrawn(self, direction: Direction, sender: str, receiver: str, message_id: str,
                             at: datetime) -> bool:
        """Record `message_id` of `sender` to `receiver` withdrawn, unless it was answered (an answer stands) or
        withdrawn already; True if it is withdrawn now."""
        result = await self.conn.execute(
            update(messages).where(messages.c.id == message_id, messages.c.direction == direction,
                                   messages.c.sender == sender, messages.c.receiver == receiver,
                                   messages.c.answered_at.is_(None), messages.c.withdrawn_at.is_(None))
            .values(withdrawn_at=at))
        return bool(result.rowcount)
