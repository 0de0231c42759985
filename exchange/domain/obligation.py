"""The feedback obligation and its clock: the rules a receiving county is assessed by.

Every record a county receives (outflow registration, pregnancy check, birth,
return cancellation) obliges it to send feedback before a deadline. These are
the rules, all on Asia/Shanghai dates:

- Start. The clock starts when the receiving node stores the record
  (``received_at``). The receipt day is never counted.
- Deadline. Working-day deadline of N days: 24:00 (00:00 of the next day) of
  the N-th working day after the receipt day, on the receiver's calendar.
  Calendar-day deadline: 24:00 of the N-th day after the receipt day.
- On time or late. The first feedback stops the clock: on time if it is at or
  before the deadline (``answered_at <= due_at``), late otherwise, for good.
  Later feedback is an amendment: recorded, never moves the clock. If an
  earlier-stamped feedback arrives after a later one, the earlier is the first.
- Overdue. Unanswered and ``now > due_at``: computed from ``now``, never stored.
- Cancelled. The sender withdraws the record, or a return cancellation
  supersedes an open outflow registration for the same person. Only an
  unanswered obligation can be cancelled (an answer already given stands).
  Cancelled obligations leave every denominator.
- Clarification. Before the deadline (``at <= due_at``) the receiver may ask the
  sender for clarification; the clock pauses until the sender answers. Paused
  working days = working days d with pause day <= d < resume day (the day of
  asking counts as paused, the day the answer arrives does not; same day = 0).
  The deadline is recomputed from the receipt day with N + all paused days
  (calendar days pause_day..resume_day-1 for calendar-day deadlines). Paused
  days are reported separately (``paused_working_days``). A paused obligation
  is open, never overdue; feedback sent while paused ends the pause first.
- Verification requests (协查). A verification request opens an obligation like a record; its deadline comes
  from its urgency (``AgreementBook.resolve_verification``: 15, 30 or 7 calendar days unless an agreement says
  otherwise), kept in ``urgency``; its ``answered`` step answers it as feedback answers a record.
- Provisional. A deadline that depends on a day whose national schedule is not
  published yet (see ``calendar``) is marked provisional; ``recompute`` it with
  a newer calendar when that year is loaded.
- Deadlines never move earlier. Whenever a deadline is recomputed (end of a
  pause, new calendar data), the later of the old and the new one is kept: a
  receiver may rely on the deadline it was shown.
- Response time. Working days from receipt to answer, receipt day not counted:
  ``working_days_between(receipt day, answer day)``; answered on the receipt
  day = 0, on the next working day = 1, on a weekend after a Friday receipt = 0.
  Paused days are not subtracted (they are reported separately).

Events that do not apply (a duplicate answer, a pause after the deadline, a
resume without a pause, a cancel of an answered obligation) return the
obligation unchanged, the same object, so redelivered messages are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from contracts.message_types import MessageType
from exchange.domain.agreements import OBLIGATION_TYPES, Deadline, DeadlineUnit, Resolution
from exchange.domain.calendar import ONE_DAY, RegionCalendar
from exchange.domain.clock import SHANGHAI

_TICK = timedelta(microseconds=1)


class Status(StrEnum):
    OPEN = "open"  # unanswered, deadline not passed (or paused)
    OVERDUE = "overdue"  # unanswered, deadline passed
    ANSWERED_ON_TIME = "answered_on_time"
    ANSWERED_LATE = "answered_late"
    CANCELLED = "cancelled"


class CancelReason(StrEnum):
    WITHDRAWN = "withdrawn"  # the sender withdrew the record
    SUPERSEDED_BY_RETURN = "superseded_by_return"  # a return cancellation closed the outflow case


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(SHANGHAI)


def local_day(at: datetime) -> date:
    """The Asia/Shanghai date of an instant."""
    return _aware(at, "instant").date()


def end_of_day(day: date) -> datetime:
    """24:00 of `day` in Asia/Shanghai, i.e. 00:00 of the next day."""
    return datetime.combine(day + ONE_DAY, time(0), tzinfo=SHANGHAI)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def day_of_deadline(due_at: datetime) -> date:
    """The last day still on time: the day whose 24:00 is `due_at`."""
    return (_aware(due_at, "due_at") - _TICK).date()


@dataclass(frozen=True, slots=True)
class Pause:
    """One clarification request: from the receiver's question to the sender's answer."""

    paused_at: datetime
    resumed_at: datetime | None = None
    request_id: str | None = None
    working_days: int = 0  # working days d with pause day <= d < resume day (0 while still paused)

    @property
    def calendar_days(self) -> int:
        if self.resumed_at is None:
            return 0
        return max(0, (local_day(self.resumed_at) - local_day(self.paused_at)).days)


@dataclass(frozen=True, slots=True)
class Obligation:
    """A receiving county's duty to feed back on one record. Immutable: events return a new one."""

    message_id: str
    message_type: str
    sender: str
    receiver: str
    received_at: datetime
    agreement_id: str
    agreement_version: int
    deadline: Deadline
    calendar_id: str
    due_at: datetime
    provisional: bool
    answered_at: datetime | None = None
    feedback_id: str | None = None
    response_working_days: int | None = None
    amendments: tuple[str, ...] = ()  # ids of feedback after the first
    cancelled_at: datetime | None = None
    cancel_reason: CancelReason | None = None
    cancelled_by: str | None = None  # id of the withdrawal or return-cancellation message
    pauses: tuple[Pause, ...] = ()
    urgency: str | None = None  # a verification request's (urgent, expedited, certificate_check); None for a record

    @property
    def receipt_day(self) -> date:
        return local_day(self.received_at)

    @property
    def due_day(self) -> date:
        return day_of_deadline(self.due_at)

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].resumed_at is None

    @property
    def paused_working_days(self) -> int:
        return sum(p.working_days for p in self.pauses)

    @property
    def pause_count(self) -> int:
        return len(self.pauses)


class ClockFacts(Protocol):
    """What ``status`` needs; an ``Obligation`` or a light row from storage."""

    due_at: datetime
    answered_at: datetime | None
    cancelled_at: datetime | None

    @property
    def paused(self) -> bool: ...


class DueTime(NamedTuple):
    due_at: datetime
    provisional: bool


def due_time(received_at: datetime, deadline: Deadline, calendar: RegionCalendar,
             pauses: tuple[Pause, ...] = ()) -> DueTime:
    """Deadline of a record received at `received_at`, extended by the closed pauses."""
    receipt = local_day(received_at)
    closed = [p for p in pauses if p.resumed_at is not None]
    if deadline.unit is DeadlineUnit.WORKING:
        extra = sum(p.working_days for p in closed)
        day, provisional = calendar.nth_working_day_after(receipt, deadline.days + extra)
        provisional = provisional or any(
            calendar.provisional_between(local_day(p.paused_at) - ONE_DAY, local_day(p.resumed_at) - ONE_DAY)
            for p in closed  # type: ignore[arg-type]
        )
    else:
        day = receipt + timedelta(days=deadline.days + sum(p.calendar_days for p in closed))
        provisional = False
    return DueTime(end_of_day(day), provisional)


def _refresh(ob: Obligation, calendar: RegionCalendar) -> Obligation:
    """Recompute deadline and response time with `calendar`; the deadline never moves earlier."""
    due = due_time(ob.received_at, ob.deadline, calendar, ob.pauses)
    response = ob.response_working_days
    if ob.answered_at is not None:
        response = calendar.working_days_between(ob.receipt_day, local_day(ob.answered_at))
    return replace(ob, due_at=max(ob.due_at, due.due_at), provisional=due.provisional,
                   calendar_id=calendar.id, response_working_days=response)


def open_obligation(
    *,
    message_id: str,
    message_type: str,
    sender: str,
    receiver: str,
    received_at: datetime,
    resolution: Resolution,
    calendar: RegionCalendar,
    urgency: str | None = None,
) -> Obligation:
    """Open the obligation for a record just stored by the receiver's node.

    `resolution` comes from ``AgreementBook.resolve(sender, receiver, type, received_at)`` (for a verification
    request, ``resolve_verification`` with its `urgency`) and `calendar` from ``CalendarBook.calendar_for(receiver)``.
    """
    message_type = str(message_type)
    if message_type not in OBLIGATION_TYPES:
        raise ValueError(f"{message_type!r} does not open a feedback obligation")
    received_at = _aware(received_at, "received_at")
    due = due_time(received_at, resolution.deadline, calendar)
    return Obligation(
        message_id=message_id,
        message_type=message_type,
        sender=sender,
        receiver=receiver,
        received_at=received_at,
        agreement_id=resolution.agreement_id,
        agreement_version=resolution.version,
        deadline=resolution.deadline,
        calendar_id=calendar.id,
        due_at=due.due_at,
        provisional=due.provisional,
        urgency=urgency,
    )


def answer(ob: Obligation, at: datetime, feedback_id: str, calendar: RegionCalendar) -> Obligation:
    """Record feedback sent at `at` (when the receiver's node accepted it from its local system)."""
    at = _aware(at, "at")
    if ob.cancelled_at is not None or feedback_id == ob.feedback_id or feedback_id in ob.amendments:
        return ob
    if ob.answered_at is not None:
        if at >= ob.answered_at:
            return replace(ob, amendments=(*ob.amendments, feedback_id))
        # An earlier feedback delivered after a later one: it is the first, the other an amendment.
        ob = replace(ob, amendments=(*ob.amendments, ob.feedback_id))  # type: ignore[arg-type]
    if ob.paused:
        ob = resume(ob, at, calendar)
    return replace(
        ob,
        answered_at=at,
        feedback_id=feedback_id,
        response_working_days=calendar.working_days_between(ob.receipt_day, local_day(at)),
    )


def cancel(ob: Obligation, at: datetime, reason: CancelReason = CancelReason.WITHDRAWN,
           by_message_id: str | None = None) -> Obligation:
    """Take an unanswered obligation out of assessment."""
    at = _aware(at, "at")
    if ob.cancelled_at is not None or ob.answered_at is not None:
        return ob
    return replace(ob, cancelled_at=at, cancel_reason=CancelReason(reason), cancelled_by=by_message_id)


def supersede_by_return(ob: Obligation, return_message_id: str, at: datetime) -> Obligation:
    """A return cancellation for the same person closes an open outflow registration's obligation.

    The caller matches the person; this only refuses other message types.
    """
    if ob.message_type != "outflow_registration":
        return ob
    return cancel(ob, at, CancelReason.SUPERSEDED_BY_RETURN, return_message_id)


def pause(ob: Obligation, at: datetime, request_id: str | None = None) -> Obligation:
    """The receiver asks the sender for clarification; allowed while open and not after the deadline."""
    at = _aware(at, "at")
    if ob.answered_at is not None or ob.cancelled_at is not None or ob.paused or at > ob.due_at:
        return ob
    return replace(ob, pauses=(*ob.pauses, Pause(paused_at=max(at, ob.received_at), request_id=request_id)))


def resume(ob: Obligation, at: datetime, calendar: RegionCalendar) -> Obligation:
    """The sender answered the clarification request; the deadline moves out by the paused days."""
    at = _aware(at, "at")
    if not ob.paused:
        return ob
    open_pause = ob.pauses[-1]
    at = max(at, open_pause.paused_at)
    pause_day, resume_day = local_day(open_pause.paused_at), local_day(at)
    closed = replace(open_pause, resumed_at=at,
                     working_days=calendar.working_days_between(pause_day - ONE_DAY, resume_day - ONE_DAY))
    return _refresh(replace(ob, pauses=(*ob.pauses[:-1], closed)), calendar)


def recompute(ob: Obligation, calendar: RegionCalendar) -> Obligation:
    """Recompute with newer calendar data (e.g. a year got published); the deadline never moves earlier."""
    pauses = tuple(
        p if p.resumed_at is None else replace(p, working_days=calendar.working_days_between(
            local_day(p.paused_at) - ONE_DAY, local_day(p.resumed_at) - ONE_DAY))
        for p in ob.pauses
    )
    return _refresh(replace(ob, pauses=pauses), calendar)


def status(ob: ClockFacts, now: datetime) -> Status:
    """Status from the events recorded on the obligation; `now` decides only whether it is overdue."""
    now = _aware(now, "now")
    if ob.cancelled_at is not None:
        return Status.CANCELLED
    if ob.answered_at is not None:
        return Status.ANSWERED_ON_TIME if ob.answered_at <= ob.due_at else Status.ANSWERED_LATE
    if ob.paused:
        return Status.OPEN
    return Status.OVERDUE if now > ob.due_at else Status.OPEN


def response_working_days(ob: Obligation) -> int | None:
    """Working days from receipt to the first answer (receipt day not counted); None if unanswered."""
    return ob.response_working_days


def working_days_overdue(ob: Obligation, now: datetime, calendar: RegionCalendar) -> int:
    """Working days after the due day up to today (overdue) or up to the answer day (answered late); else 0.

    Overdue on the weekend after a Friday deadline is 0 working days: no working day has started since.
    """
    current = status(ob, now)
    if current is Status.OVERDUE:
        end = local_day(now)
    elif current is Status.ANSWERED_LATE:
        end = local_day(ob.answered_at)  # type: ignore[arg-type]
    else:
        return 0
    return calendar.working_days_between(ob.due_day, end)


class SenderTimeliness(NamedTuple):
    due_at: datetime
    late: bool
    provisional: bool


def sender_timeliness(event_date: date, sent_at: datetime, deadline: Deadline,
                      calendar: RegionCalendar) -> SenderTimeliness:
    """Was a record sent in time after the event it reports (birth date, check date)?

    Due at 24:00 of the N-th working (or calendar) day after the event date, on
    the sender's calendar; late if sent after that. The event day is not counted.
    """
    if isinstance(event_date, datetime):
        event_date = local_day(event_date)
    sent_at = _aware(sent_at, "sent_at")
    if deadline.unit is DeadlineUnit.WORKING:
        day, provisional = calendar.nth_working_day_after(event_date, deadline.days)
    else:
        day, provisional = event_date + timedelta(days=deadline.days), False
    due_at = end_of_day(day)
    return SenderTimeliness(due_at, sent_at > due_at, provisional)


class ReminderKind(StrEnum):
    HALF = "half"
    THREE_QUARTERS = "three_quarters"
    LAST_DAY = "last_day"
    BREACH = "breach"


class Reminder(NamedTuple):
    kind: ReminderKind
    at: datetime


def reminder_schedule(ob: Obligation, calendar: RegionCalendar) -> list[Reminder]:
    """When to remind the receiver of an open obligation.

    The allowed time is the T days after the receipt day up to the due day
    (working days, or calendar days for a calendar-day deadline; pauses
    included), W1..WT. A reminder for fraction f fires at 00:00 of W(k+1) with
    k = floor(f x T): the last day boundary at which no more than f of the
    allowed days have passed. ``half`` f=1/2, ``three_quarters`` f=3/4, both
    only when k >= 1; ``last_day`` at 00:00 of WT (one working day before the
    deadline); ``breach`` at the deadline. When two fall on the same instant
    only the later kind is kept. Answered, cancelled or paused: no reminders
    (schedule again after the pause ends).
    """
    if ob.answered_at is not None or ob.cancelled_at is not None or ob.paused:
        return []
    receipt, due_day = ob.receipt_day, ob.due_day
    if ob.deadline.unit is DeadlineUnit.WORKING:
        days: list[date] = []
        for d in calendar.working_days_after(receipt):
            if d > due_day:
                break
            days.append(d)
    else:
        days = [receipt + timedelta(days=i) for i in range(1, (due_day - receipt).days + 1)]
    total = len(days)
    plan: dict[int, ReminderKind] = {}
    for kind, k in ((ReminderKind.HALF, total // 2), (ReminderKind.THREE_QUARTERS, (3 * total) // 4),
                    (ReminderKind.LAST_DAY, total - 1)):
        if k >= 1 or (kind is ReminderKind.LAST_DAY and k >= 0):
            plan[k] = kind  # a later kind at the same boundary replaces an earlier one
    reminders = [Reminder(kind, start_of_day(days[k])) for k, kind in sorted(plan.items())]
    return [*reminders, Reminder(ReminderKind.BREACH, ob.due_at)]


# Which payload date the sender-side deadline runs from (two-way assessment).
EVENT_DATE = {
    MessageType.BIRTH: ("child", "birth_date"),
    MessageType.PREGNANCY_CHECK: ("check_date",),
    MessageType.OUTFLOW_REGISTRATION: ("outflow_date",),
    MessageType.RETURN_CANCELLATION: ("return_date",),
}


def event_date(message_type: str, data: dict[str, Any]) -> str | None:
    """The payload date (ISO text) the sender-side deadline of a record runs from, if it has one."""
    value: Any = data if message_type in EVENT_DATE else None
    for part in EVENT_DATE.get(message_type, ()):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def lifecycle_event(event: str, ob: Obligation, sender_side: dict[str, Any] | None, revision: int) -> dict[str, Any]:
    """What the monitoring topic carries: timing facts and region codes only, never a personal field."""
    sender_side = sender_side or {}
    return {
        "event": event,
        "revision": revision,
        "message_id": ob.message_id,
        "message_type": ob.message_type,
        "urgency": ob.urgency,
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
        "cancel_reason": ob.cancel_reason.value if ob.cancel_reason else None,
        "paused": ob.paused,
        "paused_working_days": ob.paused_working_days,
        "pause_count": ob.pause_count,
        "sender_due_at": sender_side.get("due_at"),
        "sender_due_day": sender_side.get("due_day"),
        "sent_at": sender_side.get("sent_at"),
        "sender_late": sender_side.get("late"),
    }
