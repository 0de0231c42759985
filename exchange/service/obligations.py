"""Feedback obligations at a receiving node: opened, answered and cancelled in the transactions of the
records that cause them, and announced (without any personal field) on the monitoring topic.

The rules live in exchange/sla (pure); this module stores their results and publishes them.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import or_, select, update

from contracts import Envelope, MessageType
from exchange.domain import (
    AgreementBook,
    CalendarBook,
    CancelReason,
    Deadline,
    Obligation,
    Pause,
    answer,
    open_obligation,
    sender_timeliness,
    status,
    supersede_by_return,
)
from exchange.domain.obligation import day_of_deadline
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import obligations
from exchange.adapters.sql.unit_of_work import SqlUnitOfWork
from exchange.domain.events import ObligationChanged
from exchange.domain.clock import as_utc

# Which payload date the sender-side deadline runs from (two-way assessment).
EVENT_DATE = {
    MessageType.BIRTH: ("child", "birth_date"),
    MessageType.PREGNANCY_CHECK: ("check_date",),
    MessageType.OUTFLOW_REGISTRATION: ("outflow_date",),
    MessageType.RETURN_CANCELLATION: ("return_date",),
}


def _dig(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


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
    )
    return ob, s["sender_side"]


def lifecycle_event(event: str, ob: Obligation, sender_side: dict[str, Any] | None, revision: int) -> dict[str, Any]:
    """What the monitoring topic carries: timing facts and region codes only, never a personal field."""
    sender_side = sender_side or {}
    return {
        "event": event,
        "revision": revision,
        "message_id": ob.message_id,
        "message_type": ob.message_type,
        "sender": ob.sender,
        "receiver": ob.receiver,
        "agreement_id": ob.agreement_id,
        "agreement_version": ob.agreement_version,
        "calendar_id": ob.calendar_id,
        "received_at": ob.received_at.isoformat(),
        "due_at": ob.due_at.isoformat(),
        "due_day": day_of_deadline(ob.due_at).isoformat(),
        "provisional": ob.provisional,
        "answered_at": ob.answered_at.isoformat() if ob.answered_at else None,
        "response_working_days": ob.response_working_days,
        "cancelled_at": ob.cancelled_at.isoformat() if ob.cancelled_at else None,
        "paused": ob.paused,
        "paused_working_days": ob.paused_working_days,
        "sender_due_at": sender_side.get("due_at"),
        "sender_due_day": sender_side.get("due_day"),
        "sent_at": sender_side.get("sent_at"),
        "sender_late": sender_side.get("late"),
    }


class Obligations:
    """Receiver-side obligations of one node."""

    def __init__(self, agreements: AgreementBook, calendars: CalendarBook, person_secret: bytes):
        self.agreements = agreements
        self.calendars = calendars
        self.person_secret = person_secret

    def person_key(self, data: dict[str, Any]) -> str | None:
        number = _dig(data, ("person", "id_number"))
        if not number:
            return None
        return hmac.new(self.person_secret, number.encode(), hashlib.sha256).hexdigest()

    async def open_many(self, uow: SqlUnitOfWork, received: list[tuple[Envelope, dict[str, Any]]],
                        received_at: datetime, sent_at: dict[tuple[str, str], datetime] | None = None) -> None:
        """Open the obligations of records stored in this transaction, one INSERT for them all. An obligation is
        named like its record: (sending county, id). `sent_at`: when the broker appended each record (by that
        name), a time its sender cannot choose; else its ce_time."""
        opening: dict[tuple[str, str], tuple[Obligation, dict[str, Any] | None, dict[str, Any]]] = {}
        for envelope, data in received:
            message_type = envelope.message_type
            sender, receiver = envelope.senderregion, envelope.receiverregion
            ob = open_obligation(
                message_id=envelope.id, message_type=message_type.value, sender=sender, receiver=receiver,
                received_at=received_at, calendar=self.calendars.calendar_for(receiver),
                resolution=self.agreements.resolve(sender, receiver, message_type.value, received_at),
            )
            sent = (sent_at or {}).get((ob.sender, ob.message_id), envelope.time)
            opening[(ob.sender, ob.message_id)] = (ob, self._sender_side(message_type, sender, receiver, sent, data),
                                                   data)
        if not opening:
            return
        conn = uow.conn
        opened = {tuple(row) for row in await conn.execute(
            insert_ignoring_duplicates(conn, obligations, "message_id", "sender").returning(obligations.c.sender,
                                                                                             obligations.c.message_id),
            [{"message_id": ob.message_id, "message_type": ob.message_type, "sender": ob.sender,
              "receiver": ob.receiver, "received_at": received_at, "due_at": ob.due_at, "provisional": ob.provisional,
              "paused": False, "person_key": self.person_key(data), "revision": 1, "state": to_state(ob, sender_side)}
             for ob, sender_side, data in opening.values()],
        )}
        # Not opened: a record delivered again after its message row was lost; its clock runs on.
        self._announce(uow, "opened", [(ob, sender_side, 1) for key, (ob, sender_side, _)
                                       in opening.items() if key in opened])
        returns = [(ob, data) for key, (ob, _, data) in opening.items()
                   if key in opened and ob.message_type == MessageType.RETURN_CANCELLATION]
        await self._supersede(uow, returns, list(opening), received_at)

    async def answered(self, uow: SqlUnitOfWork, sender: str, original_id: str, feedback_id: str,
                       at: datetime) -> None:
        """Feedback accepted from the receiver's local system to `original_id` of `sender`: the first stops the
        clock."""
        row = (await uow.conn.execute(select(obligations).where(obligations.c.message_id == original_id,
                                                            obligations.c.sender == sender))).first()
        if row is None:
            return
        ob, sender_side = from_state(row.state)
        updated = answer(ob, at, feedback_id, self.calendars.calendar_for(ob.receiver))
        if updated != ob:
            await self._save(uow, row.revision, updated, sender_side, "answered", at)

    async def _supersede(self, uow: SqlUnitOfWork, returns: list[tuple[Obligation, dict[str, Any]]],
                         batch: list[tuple[str, str]], at: datetime) -> None:
        """Each return cancellation cancels the open outflow registration(s) of the same person (or the one it
        names) from its sender, received before it: one that came later in the same batch (the person left
        again) stays open. `batch`: the (sender, id) of the batch's records in the order received."""
        wanted = [(ret, data.get("outflow_message_id"), self.person_key(data)) for ret, data in returns]
        named = {n for _, n, _ in wanted if n}
        keys = {k for _, _, k in wanted if k}
        if not named and not keys:
            return
        candidates = (await uow.conn.execute(
            select(obligations).where(
                or_(obligations.c.message_id.in_(named), obligations.c.person_key.in_(keys)),
                obligations.c.message_type == MessageType.OUTFLOW_REGISTRATION,
                obligations.c.answered_at.is_(None), obligations.c.cancelled_at.is_(None))
        )).all()
        position = {record: i for i, record in enumerate(batch)}  # earlier records: -1
        cancelled: set[tuple[str, str]] = set()
        for ret, named_id, key in wanted:
            for row in candidates:
                outflow = (row.sender, row.message_id)
                if (outflow in cancelled or (row.sender, row.receiver) != (ret.sender, ret.receiver)
                        or position.get(outflow, -1) > position[(ret.sender, ret.message_id)]
                        or not (row.message_id == named_id or (key is not None and row.person_key == key))):
                    continue
                cancelled.add(outflow)
                ob, sender_side = from_state(row.state)
                await self._save(uow, row.revision, supersede_by_return(ob, ret.message_id, at), sender_side,
                                 "cancelled", at)

    async def _save(self, uow: SqlUnitOfWork, revision: int, ob: Obligation, sender_side: dict | None,
                    event: str, at: datetime) -> None:
        await uow.conn.execute(
            update(obligations)
            .where(obligations.c.message_id == ob.message_id, obligations.c.sender == ob.sender)
            .values(due_at=ob.due_at, provisional=ob.provisional, answered_at=ob.answered_at,
                    cancelled_at=ob.cancelled_at, paused=ob.paused, revision=revision + 1,
                    state=to_state(ob, sender_side))
        )
        self._announce(uow, event, [(ob, sender_side, revision + 1)])

    def _sender_side(self, message_type: MessageType, sender: str, receiver: str, sent_at: datetime,
                     data: dict[str, Any]) -> dict[str, Any] | None:
        resolution = self.agreements.resolve_sender(sender, receiver, message_type.value, sent_at)
        raw = _dig(data, EVENT_DATE.get(message_type, ()))
        if resolution is None or not raw:
            return None
        result = sender_timeliness(date.fromisoformat(raw), sent_at, resolution.deadline,
                                   self.calendars.calendar_for(sender))
        return {"due_at": result.due_at.isoformat(), "due_day": day_of_deadline(result.due_at).isoformat(),
                "sent_at": as_utc(sent_at).isoformat(), "late": result.late, "provisional": result.provisional,
                "agreement_id": resolution.agreement_id, "agreement_version": resolution.version}

    @staticmethod
    def _announce(uow: SqlUnitOfWork, event: str, changed: list[tuple[Obligation, dict[str, Any] | None, int]]) -> None:
        """Lifecycle events (obligation, sender side, revision) for the monitoring topic."""
        uow.record(*(ObligationChanged(event, ob.receiver, ob.message_id, revision,
                                       lifecycle_event(event, ob, sender_side, revision))
                     for ob, sender_side, revision in changed))


def obligation_view(state: str, now: datetime) -> dict[str, Any]:
    """An obligation as the API shows it to its own county, with its live status."""
    ob, sender_side = from_state(state)
    return {
        "message_id": ob.message_id, "message_type": ob.message_type, "sender": ob.sender, "receiver": ob.receiver,
        "status": status(ob, now).value, "received_at": ob.received_at.isoformat(), "due_at": ob.due_at.isoformat(),
        "provisional": ob.provisional, "agreement_id": ob.agreement_id, "agreement_version": ob.agreement_version,
        "deadline": ob.deadline.to_dict(), "calendar_id": ob.calendar_id,
        "answered_at": ob.answered_at.isoformat() if ob.answered_at else None, "feedback_id": ob.feedback_id,
        "response_working_days": ob.response_working_days, "amendments": list(ob.amendments),
        "cancelled_at": ob.cancelled_at.isoformat() if ob.cancelled_at else None,
        "cancel_reason": ob.cancel_reason.value if ob.cancel_reason else None,
        "paused_working_days": ob.paused_working_days, "sender_side": sender_side,
    }
