"""Obligations as the node keeps them (table ``obligations``): the repository the unit of work hands to services.

An obligation is stored whole as JSON (``state``) beside the columns that queries filter on; its revision counts
its changes, and each change is announced to the monitor with that revision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import MessageType
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import obligations
from exchange.domain import CancelReason, Deadline, Obligation, Pause
from exchange.domain.obligation import end_of_day


@dataclass(frozen=True)
class Kept:
    """An obligation as kept: with its sender-side timeliness, its revision and its person's key."""

    obligation: Obligation
    sender_side: dict[str, Any] | None
    revision: int
    person_key: str | None = None


class ObligationRepository:
    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def add(self, opening: Iterable[tuple[Obligation, dict[str, Any] | None, str | None]]
                  ) -> set[tuple[str, str]]:
        """Store new obligations (obligation, sender side, person key) in one statement; returns the (sender, id)
        of those stored now (one already there stays as it is)."""
        rows = [{"message_id": ob.message_id, "message_type": ob.message_type, "sender": ob.sender,
                 "receiver": ob.receiver, "received_at": ob.received_at, "due_at": ob.due_at,
                 "provisional": ob.provisional, "paused": False, "person_key": key, "revision": 1,
                 "urgency": ob.urgency, "state": to_state(ob, sender_side),
                 # reminders fire at a day's end after the receipt day at the earliest (domain reminder_schedule)
                 "next_reminder_at": end_of_day(ob.receipt_day)} for ob, sender_side, key in opening]
        if not rows:
            return set()
        return {tuple(row) for row in await self.conn.execute(
            insert_ignoring_duplicates(self.conn, obligations, "message_id", "sender").returning(
                obligations.c.sender, obligations.c.message_id), rows)}

    async def get(self, sender: str, message_id: str) -> Kept | None:
        row = (await self.conn.execute(select(obligations).where(obligations.c.message_id == message_id,
                                                                 obligations.c.sender == sender))).first()
        return _kept(row) if row is not None else None

    async def open_registrations(self, named: set[str], person_keys: set[str]) -> list[Kept]:
        """Outflow registrations not answered nor cancelled, named by id or by their person's key."""
        rows = await self.conn.execute(select(obligations).where(
            or_(obligations.c.message_id.in_(named), obligations.c.person_key.in_(person_keys)),
            obligations.c.message_type == MessageType.OUTFLOW_REGISTRATION,
            obligations.c.answered_at.is_(None), obligations.c.cancelled_at.is_(None)))
        return [_kept(row) for row in rows]

    async def save(self, kept: Kept, ob: Obligation) -> int:
        """Store the obligation's new state; returns its new revision."""
        revision = kept.revision + 1
        await self.conn.execute(
            update(obligations)
            .where(obligations.c.message_id == ob.message_id, obligations.c.sender == ob.sender)
            .values(due_at=ob.due_at, provisional=ob.provisional, answered_at=ob.answered_at,
                    cancelled_at=ob.cancelled_at, paused=ob.paused, revision=revision,
                    state=to_state(ob, kept.sender_side))
        )
        return revision


def _kept(row: Any) -> Kept:
    ob, sender_side = from_state(row.state)
    return Kept(ob, sender_side, row.revision, row.person_key)


def to_state(ob: Obligation, sender_side: dict[str, Any] | None) -> str:
    return orjson.dumps(
        {
            "message_id": ob.message_id,
            "message_type": ob.message_type,
            "sender": ob.sender,
            "receiver": ob.receiver,
            "received_at": ob.received_at.isoformat(),
            "agreement_id": ob.agreement_id,
            "agreement_version": ob.agreement_version,
            "deadline": ob.deadline.to_dict(),
            "calendar_id": ob.calendar_id,
            "due_at": ob.due_at.isoformat(),
            "provisional": ob.provisional,
            "answered_at": ob.answered_at.isoformat() if ob.answered_at else None,
            "feedback_id": ob.feedback_id,
            "response_working_days": ob.response_working_days,
            "amendments": list(ob.amendments),
            "cancelled_at": ob.cancelled_at.isoformat() if ob.cancelled_at else None,
            "cancel_reason": ob.cancel_reason.value if ob.cancel_reason else None,
            "cancelled_by": ob.cancelled_by,
            "pauses": [
                {"paused_at": p.paused_at.isoformat(), "resumed_at": p.resumed_at.isoformat() if p.resumed_at else None,
                 "request_id": p.request_id, "working_days": p.working_days}
                for p in ob.pauses
            ],
            "sender_side": sender_side,
            "urgency": ob.urgency,
        }
    ).decode()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def from_state(text: str) -> tuple[Obligation, dict[str, Any] | None]:
    s = orjson.loads(text)
    ob = Obligation(
        message_id=s["message_id"],
        message_type=s["message_type"],
        sender=s["sender"],
        receiver=s["receiver"],
        received_at=_dt(s["received_at"]),
        agreement_id=s["agreement_id"],
        agreement_version=s["agreement_version"],
        deadline=Deadline.from_value(s["deadline"]),
        calendar_id=s["calendar_id"],
        due_at=_dt(s["due_at"]),
        provisional=s["provisional"],
        answered_at=_dt(s["answered_at"]),
        feedback_id=s["feedback_id"],
        response_working_days=s["response_working_days"],
        amendments=tuple(s["amendments"]),
        cancelled_at=_dt(s["cancelled_at"]),
        cancel_reason=CancelReason(s["cancel_reason"]) if s["cancel_reason"] else None,
        cancelled_by=s["cancelled_by"],
        pauses=tuple(
            Pause(_dt(p["paused_at"]), _dt(p["resumed_at"]), p["request_id"], p["working_days"]) for p in s["pauses"]
        ),
        urgency=s.get("urgency"),  # absent in states kept before verification requests
    )
    return ob, s["sender_side"]
