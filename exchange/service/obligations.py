"""Feedback obligations at a receiving node: opened, answered and cancelled in the transactions of the
records that cause them, and announced (without any personal field) on the monitoring topic.
The rules live in exchange/domain (pure); this service applies them to what the unit of work keeps.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from contracts import Envelope, MessageType
from exchange.adapters.sql.obligation_repository import Kept, from_state
from exchange.domain import AgreementBook, CalendarBook, Obligation, answer, open_obligation, sender_timeliness, status
from exchange.domain.clock import as_utc
from exchange.domain.events import ObligationChanged
from exchange.domain.obligation import (
    CancelReason,
    cancel,
    day_of_deadline,
    due_time,
    event_date,
    lifecycle_event,
    pause,
    resume,
    supersede_by_return,
)
from exchange.domain.returns import Registration, Return, person_key, superseded
from exchange.service.unit_of_work import UnitOfWork


class Obligations:
    """Receiver-side obligations of one node."""

    def __init__(self, agreements: AgreementBook, calendars: CalendarBook, person_secret: bytes):
        self.agreements = agreements
        self.calendars = calendars
        self.person_secret = person_secret

    async def open_many(self, uow: UnitOfWork, received: list[tuple[Envelope, dict[str, Any]]],
                        received_at: datetime, sent_at: dict[tuple[str, str], datetime] | None = None) -> None:
        """Open the obligations of records stored in this transaction, one INSERT for them all. An obligation is
        named like its record: (sending county, id). `sent_at`: when the broker appended each record (by that
        name), a time its sender cannot choose; else its ce_time."""
        opening: dict[tuple[str, str], tuple[Obligation, dict[str, Any] | None, dict[str, Any]]] = {}
        for envelope, data in received:
            message_type = envelope.message_type
            sender, receiver = envelope.senderregion, envelope.receiverregion
            # A verification request (协查) is due by its urgency; a record by its type.
            urgency = data["urgency"] if message_type is MessageType.VERIFICATION_REQUEST else None
            ob = open_obligation(
                message_id=envelope.id, message_type=message_type.value, sender=sender, receiver=receiver,
                received_at=received_at, calendar=self.calendars.calendar_for(receiver), urgency=urgency,
                resolution=(self.agreements.resolve_verification(sender, receiver, urgency, received_at) if urgency
                            else self.agreements.resolve(sender, receiver, message_type.value, received_at)),
            )
            sent = (sent_at or {}).get((ob.sender, ob.message_id), envelope.time)
            opening[(ob.sender, ob.message_id)] = (ob, self._sender_side(message_type, sender, receiver, sent, data),
                                                   data)
        opened = await uow.obligations.add((ob, sender_side, person_key(self.person_secret, data))
                                           for ob, sender_side, data in opening.values())
        # Not opened: a record delivered again after its message row was lost; its clock runs on.
        _announce(uow, "opened", [(ob, sender_side, 1) for key, (ob, sender_side, _) in opening.items()
                                  if key in opened])
        returns = [Return(ob, data.get("outflow_message_id"), person_key(self.person_secret, data))
                   for key, (ob, _, data) in opening.items()
                   if key in opened and ob.message_type == MessageType.RETURN_CANCELLATION]
        await self._supersede(uow, returns, list(opening), received_at)

    async def answered(self, uow: UnitOfWork, sender: str, original_id: str, feedback_id: str,
                       at: datetime) -> None:
        """Feedback accepted from the receiver's local system to `original_id` of `sender`: the first stops the
        clock."""
        kept = await uow.obligations.get(sender, original_id)
        if kept is None:
            return
        updated = answer(kept.obligation, at, feedback_id, self.calendars.calendar_for(kept.obligation.receiver))
        if updated != kept.obligation:
            await _save(uow, kept, updated, "answered")

    def verification_due(self, sender: str, receiver: str, urgency: str, received_at: datetime) -> datetime:
        """The deadline of a verification request of this urgency that `receiver` received at `received_at`, as
        its obligation there has it (what its requester is shown)."""
        resolution = self.agreements.resolve_verification(sender, receiver, urgency, received_at)
        return due_time(received_at, resolution.deadline, self.calendars.calendar_for(receiver)).due_at

    @staticmethod
    async def withdrawn(uow: UnitOfWork, sender: str, record_id: str, withdrawal_id: str, at: datetime) -> None:
        """The sender withdrew `record_id` (撤回): its obligation is cancelled, unless it was answered already (an
        answer stands) or cancelled before."""
        kept = await uow.obligations.get(sender, record_id)
        if kept is None:
            return
        updated = cancel(kept.obligation, at, CancelReason.WITHDRAWN, withdrawal_id)
        if updated != kept.obligation:
            await _save(uow, kept, updated, "cancelled")

    @staticmethod
    async def paused(uow: UnitOfWork, kept: Kept, request_id: str, at: datetime) -> bool:
        """The receiver asked the record's sender for clarification (请求补充说明): the clock pauses (domain `pause`),
        announced "paused". False if the domain does not apply it (answered, cancelled, paused, past its deadline)."""
        updated = pause(kept.obligation, at, request_id)
        if updated == kept.obligation:
            return False
        await _save(uow, kept, updated, "paused")
        return True

    async def resumed(self, uow: UnitOfWork, sender: str, record_id: str, at: datetime) -> None:
        """The record's sender answered the clarification request (补充说明): the clock resumes and the deadline moves
        out by the working days paused (domain `resume`), announced "resumed"; nothing if it is not paused."""
        kept = await uow.obligations.get(sender, record_id)
        if kept is None:
            return
        updated = resume(kept.obligation, at, self.calendars.calendar_for(kept.obligation.receiver))
        if updated != kept.obligation:
            await _save(uow, kept, updated, "resumed")

    @staticmethod
    async def _supersede(uow: UnitOfWork, returns: list[Return], batch: list[tuple[str, str]], at: datetime) -> None:
        """Return cancellations supersede the open outflow registrations of their persons (domain/returns.py)."""
        named = {r.names for r in returns if r.names}
        keys = {r.person_key for r in returns if r.person_key}
        if not named and not keys:
            return
        candidates = {(k.obligation.sender, k.obligation.message_id): k
                      for k in await uow.obligations.open_registrations(named, keys)}
        registrations = [Registration(k.obligation.sender, k.obligation.receiver, k.obligation.message_id,
                                      k.person_key) for k in candidates.values()]
        for registration, ret in superseded(returns, registrations, batch):
            kept = candidates[registration.key]
            await _save(uow, kept, supersede_by_return(kept.obligation, ret.obligation.message_id, at), "cancelled")

    def _sender_side(self, message_type: MessageType, sender: str, receiver: str, sent_at: datetime,
                     data: dict[str, Any]) -> dict[str, Any] | None:
        resolution = self.agreements.resolve_sender(sender, receiver, message_type.value, sent_at)
        raw = event_date(message_type, data)
        if resolution is None or not raw:
            return None
        result = sender_timeliness(date.fromisoformat(raw), sent_at, resolution.deadline,
                                   self.calendars.calendar_for(sender))
        return {"due_at": result.due_at.isoformat(), "due_day": day_of_deadline(result.due_at).isoformat(),
                "sent_at": as_utc(sent_at).isoformat(), "late": result.late, "provisional": result.provisional,
                "agreement_id": resolution.agreement_id, "agreement_version": resolution.version}


async def _save(uow: UnitOfWork, kept: Kept, ob: Obligation, event: str) -> None:
    revision = await uow.obligations.save(kept, ob)
    _announce(uow, event, [(ob, kept.sender_side, revision)])


def _announce(uow: UnitOfWork, event: str, changed: list[tuple[Obligation, dict[str, Any] | None, int]]) -> None:
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
        "paused_working_days": ob.paused_working_days, "sender_side": sender_side, "urgency": ob.urgency,
    }
