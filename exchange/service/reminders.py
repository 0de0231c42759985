"""Reminders: at 50 % and 75 % of the allowed time, one working day before the deadline and at breach,
a node tells its own county what is about to go overdue, before the province sees it.

Each reminder is stored once (so it fires once) and published to the reminders topic; the API lists them.
No personal field: message id, type, counties, deadline and kind only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import bindparam, or_, select, update

from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.obligation_repository import from_state
from exchange.adapters.sql.tables import obligations, reminders
from exchange.domain import CalendarBook, reminder_schedule
from exchange.domain.clock import utcnow
from exchange.domain.events import ReminderDue
from exchange.service.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)
#: Obligations read per transaction by a reminder round.
CHUNK = 500
#: `next_reminder_at` of an obligation whose reminders have all fired.
NONE_LEFT = datetime(9999, 12, 31, tzinfo=UTC)


class Reminders:
    def __init__(self, uow: UnitOfWorkFactory, calendars: CalendarBook, served: frozenset[str]):
        self.uow = uow
        self.calendars = calendars
        self.served = served

    async def run(self, interval: float, wake) -> None:  # noqa: ANN001 - a callable waking the relay
        while True:
            try:
                if await self.emit_due(utcnow()):
                    wake()
            except Exception as exc:  # noqa: BLE001 - try again next round
                log.warning("reminder round failed: %s", type(exc).__name__)
            await asyncio.sleep(interval)

    async def emit_due(self, now: datetime) -> int:
        """Store and publish every reminder whose time has come; returns how many were new.

        Reads only the obligations whose next reminder is due (`next_reminder_at`; a fresh one: from the end of its
        receipt day), CHUNK per transaction with a pause between, and notes when each one's next reminder is due:
        reading every open obligation each round blocked a busy node for seconds (`make bench`, sustained)."""
        emitted = 0
        while True:
            async with self.uow() as uow:
                conn = uow.conn
                rows = (await conn.execute(
                    select(obligations.c.message_id, obligations.c.sender, obligations.c.state).where(
                        obligations.c.receiver.in_(sorted(self.served)),
                        obligations.c.answered_at.is_(None),
                        obligations.c.cancelled_at.is_(None),
                        obligations.c.paused.is_(False),
                        or_(obligations.c.next_reminder_at.is_(None), obligations.c.next_reminder_at <= now),
                    ).limit(CHUNK))).all()
                upcoming = []
                for row in rows:
                    ob, _ = from_state(row.state)
                    after = NONE_LEFT
                    for reminder in reminder_schedule(ob, self.calendars.calendar_for(ob.receiver)):
                        if reminder.at > now:
                            after = reminder.at
                            break
                        emitted += await self._emit(uow, ob, reminder, now)
                    upcoming.append({"m": row.message_id, "s": row.sender, "next": after})
                if upcoming:
                    await conn.execute(update(obligations).where(
                        obligations.c.message_id == bindparam("m"), obligations.c.sender == bindparam("s"),
                    ).values(next_reminder_at=bindparam("next")), upcoming)
            if len(rows) < CHUNK:
                return emitted
            await asyncio.sleep(0)  # requests and the consumer between two chunks

    @staticmethod
    async def _emit(uow, ob, reminder, now: datetime) -> int:  # noqa: ANN001 - unit of work, Obligation, Reminder
        """Store the reminder once (1) and record it to be published; 0 if it was stored before."""
        conn = uow.conn
        new = await conn.execute(
            insert_ignoring_duplicates(conn, reminders, "message_id", "sender", "kind").values(
                message_id=ob.message_id, sender=ob.sender, kind=reminder.kind.value, receiver=ob.receiver,
                due_at=ob.due_at, fire_at=reminder.at, emitted_at=now,
            )
        )
        if new.rowcount == 0:
            return 0
        body = {"kind": reminder.kind.value, "message_id": ob.message_id, "message_type": ob.message_type,
                "sender": ob.sender, "receiver": ob.receiver, "due_at": ob.due_at.isoformat(),
                "fire_at": reminder.at.isoformat()}
        uow.record(ReminderDue(ob.receiver, ob.message_id, reminder.kind.value, body))
        return 1
