"""The monthly roster check (定期清查) as the node keeps it: what a roster is built from and answered from (table
``messages``, payloads still sealed at rest: the service opens them), and its discrepancies (table
``roster_discrepancies``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import MessageType
from exchange.adapters.sql.dialect import insert_ignoring_duplicates, upsert
from exchange.adapters.sql.progress import chunks
from exchange.adapters.sql.tables import messages, obligations, roster_discrepancies, rosters
from exchange.domain.delivery import Direction
from exchange.domain.roster import Return

_KEY = ("month", "side", "registration_county", "registration_id")


class RosterRepository:
    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def sent_registrations(self, senders: Iterable[str]) -> list[Row]:
        """The outflow registrations (not withdrawn) and return cancellations `senders` sent, in the order sent:
        type, sender, receiver, id and sealed payload."""
        return list((await self.conn.execute(
            select(messages.c.type, messages.c.sender, messages.c.receiver, messages.c.id, messages.c.payload).where(
                messages.c.direction == Direction.OUT, messages.c.sender.in_(sorted(senders)),
                messages.c.type.in_([MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION]),
                messages.c.withdrawn_at.is_(None)).order_by(messages.c.seq))).all())

    async def holdings(self, sender: str, receiver: str, ids: Sequence[str]) -> tuple[set[str], set[str],
                                                                                        dict[str, Row]]:
        """What `receiver` holds of the registrations `ids` of `sender`: those received, those cancelled (withdrawn,
        or superseded by a return cancellation), and its latest feedback to each (id and sealed payload)."""
        received, cancelled, latest = set(), set(), {}
        for chunk in chunks(sorted(set(ids))):
            for row in await self.conn.execute(select(messages.c.id, messages.c.withdrawn_at).where(
                    messages.c.direction == Direction.IN, messages.c.sender == sender,
                    messages.c.receiver == receiver, messages.c.type == MessageType.OUTFLOW_REGISTRATION,
                    messages.c.id.in_(chunk))):
                received.add(row.id)
                if row.withdrawn_at is not None:
                    cancelled.add(row.id)
            cancelled.update(await self.conn.scalars(select(obligations.c.message_id).where(
                obligations.c.sender == sender, obligations.c.message_id.in_(chunk),
                obligations.c.cancelled_at.is_not(None))))
            for row in await self.conn.execute(select(messages.c.in_reply_to, messages.c.id, messages.c.payload).where(
                    messages.c.direction == Direction.OUT, messages.c.sender == receiver,
                    messages.c.receiver == sender, messages.c.type == MessageType.FEEDBACK,
                    messages.c.in_reply_to.in_(chunk)).order_by(messages.c.seq)):
                latest[row.in_reply_to] = row  # the last one sent
        return received, cancelled, latest

    async def sent_roster(self, sender: str, receiver: str, roster_id: str) -> Row | None:
        """The roster `roster_id` `sender` sent `receiver` (id and sealed payload), if it did."""
        return (await self.conn.execute(select(messages.c.id, messages.c.payload).where(
            messages.c.direction == Direction.OUT, messages.c.id == roster_id, messages.c.sender == sender,
            messages.c.receiver == receiver, messages.c.type == MessageType.ROSTER))).first()

    async def add_discrepancies(self, rows: Sequence[dict[str, Any]]) -> None:
        """Discrepancies found (one already kept for the same month, side and registration stays as it is)."""
        if rows:
            await self.conn.execute(insert_ignoring_duplicates(self.conn, roster_discrepancies, *_KEY), list(rows))

    async def resolve_many(self, side: str, returns: Sequence[Return], at: datetime) -> int:
        """Return cancellations (a batch's) resolve the open discrepancies of `side` they name; returns how many.
        One query finds which name an open discrepancy at all, so a batch without any (the usual case) costs one
        round trip, not one per return."""
        ids = sorted({r.registration_id for r in returns if r.registration_id})
        keys = sorted({r.person_key for r in returns if r.person_key})
        named = {(row.registration_county, row.residence_county, row.value)
                 for column, values in (("registration_id", ids), ("person_key", keys))
                 for chunk in chunks(values)
                 for row in await self.conn.execute(
                     select(roster_discrepancies.c.registration_county, roster_discrepancies.c.residence_county,
                            roster_discrepancies.c[column].label("value"))
                     .where(roster_discrepancies.c.side == side, roster_discrepancies.c.resolved_at.is_(None),
                            roster_discrepancies.c[column].in_(chunk)))}
        resolved = 0
        for r in returns:
            if {(r.registration_county, r.residence_county, r.registration_id),
                    (r.registration_county, r.residence_county, r.person_key)} & named:
                resolved += await self.resolve(side, *r, at)
        return resolved

    async def resolve(self, side: str, registration_county: str, residence_county: str, registration_id: str | None,
                      person_key: str | None, by: str, at: datetime) -> int:
        """A return cancellation between the two counties, naming the registration or its person, resolves the open
        discrepancies of `side` about it; returns how many."""
        named = [roster_discrepancies.c.registration_id == registration_id] if registration_id else []
        if person_key:
            named.append(roster_discrepancies.c.person_key == person_key)
        if not named:
            return 0
        result = await self.conn.execute(update(roster_discrepancies).where(
            roster_discrepancies.c.side == side, roster_discrepancies.c.registration_county == registration_county,
            roster_discrepancies.c.residence_county == residence_county,
            roster_discrepancies.c.resolved_at.is_(None), or_(*named)).values(resolved_at=at, resolved_by=by))
        return result.rowcount

    async def discrepancies(self, counties: Iterable[str], month: str) -> list[Row]:
        """The discrepancies of `month` of `counties` (its side's: a registration county's as registration, a
        residence county's as residence), open or resolved; by pair and id. (The to-do list reads the open ones.)"""
        counties = sorted(counties)
        query = select(roster_discrepancies).where(or_(
            (roster_discrepancies.c.side == "registration") & roster_discrepancies.c.registration_county.in_(counties),
            (roster_discrepancies.c.side == "residence") & roster_discrepancies.c.residence_county.in_(counties)))
        query = query.where(roster_discrepancies.c.month == month)
        return list((await self.conn.execute(query.order_by(
            roster_discrepancies.c.month, roster_discrepancies.c.registration_county,
            roster_discrepancies.c.residence_county, roster_discrepancies.c.registration_id,
            roster_discrepancies.c.side))).all())

    async def keep(self, roster: dict[str, Any]) -> None:
        """A roster (or part) sent (side registration) or answered (side residence): every column of `rosters`, the
        counts None until answered. Kept again, the newer facts replace the older."""
        await self.conn.execute(upsert(self.conn, rosters, ["side", "registration_county", "roster_id"], roster))

    async def answered(self, registration_county: str, roster_id: str, figures: dict[str, Any]) -> None:
        """The answer to a roster (or part) this node's county sent came back: answered_at and the counts."""
        await self.conn.execute(update(rosters).where(
            rosters.c.side == "registration", rosters.c.registration_county == registration_county,
            rosters.c.roster_id == roster_id).values(**figures))

    async def kept(self, counties: Iterable[str], month: str) -> list[Row]:
        """The rosters (parts) of `month` that `counties` sent (side registration) or answered (side residence)."""
        counties = sorted(counties)
        return list((await self.conn.execute(select(rosters).where(rosters.c.month == month, or_(
            (rosters.c.side == "registration") & rosters.c.registration_county.in_(counties),
            (rosters.c.side == "residence") & rosters.c.residence_county.in_(counties))).order_by(
            rosters.c.registration_county, rosters.c.residence_county, rosters.c.part, rosters.c.side))).all())
