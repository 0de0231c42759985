"""A county's to-do list (待办): what it must do, by when, and how urgent it is now.

Every item is something the county itself must act on, with a due time (24:00 Asia/Shanghai of a day, as every
deadline of the exchange) and a live status decided at each query from "now", never stored:

- ``overdue`` (已逾期): the due time has passed;
- ``due_today`` (今日到期): not passed, and the due time is 24:00 of today (Asia/Shanghai);
- ``on_time`` (未到期): due after today;
- ``waiting`` (等待补充说明): the county's clock is paused because it asked the record's sender for clarification;
  nothing to do until the answer comes (a paused obligation is never overdue, see ``obligation``).

Kinds of item: ``feedback`` (a record received awaiting feedback: an open obligation), ``clarification`` (a
clarification request received about a record the county sent: the sender's answer, 补充说明, is due
``answer_days`` working days after the request arrived, on the sender county's calendar), ``verification`` (a
verification request received and not answered: its next step, due by its urgency) and the monthly roster check's
open discrepancies (``roster_registration`` at the county that sent the roster, ``roster_residence`` at the one that
answered it), due by the next month's cut-off day, when the next check comes; ``webhook_failed``: a webhook delivery
given up after its last retry (exchange/domain/webhooks.py), overdue from the moment it failed. Another kind joins by adding a member
to ``Kind`` and an item source to the worklist service. Items carry ids and codes only, never a personal field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from contracts.payloads.verification import Urgency
from exchange.domain.calendar import CalendarBook
from exchange.domain.obligation import DueTime, end_of_day, local_day

#: Working days the sender of a record has to answer a clarification request about it (MPX_CLARIFICATION_ANSWER_DAYS).
ANSWER_DAYS = 3


class Kind(StrEnum):
    FEEDBACK = "feedback"  # 反馈: a record received, awaiting feedback
    CLARIFICATION = "clarification"  # 补充说明: a clarification request received, awaiting the answer
    VERIFICATION = "verification"  # 协查: a verification request received, awaiting its next step
    ROSTER_REGISTRATION = "roster_registration"  # 清查差异(户籍地): a person on the county's roster not found there
    ROSTER_RESIDENCE = "roster_residence"  # 清查差异(现居住地): a person the county answered as not (or no longer) here
    WEBHOOK_FAILED = "webhook_failed"  # 推送失败: a webhook delivery given up after its last retry


class LiveStatus(StrEnum):
    ON_TIME = "on_time"
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"
    WAITING = "waiting"


KIND_LABELS = {Kind.FEEDBACK: "反馈 feedback", Kind.CLARIFICATION: "补充说明 clarification",
               Kind.VERIFICATION: "协查 verification request",
               Kind.ROSTER_REGISTRATION: "清查差异(户籍地) roster discrepancy, registration side",
               Kind.ROSTER_RESIDENCE: "清查差异(现居住地) roster discrepancy, residence side",
               Kind.WEBHOOK_FAILED: "推送失败 webhook delivery failed"}
STATUS_LABELS = {LiveStatus.ON_TIME: "未到期 on time", LiveStatus.DUE_TODAY: "今日到期 due today",
                 LiveStatus.OVERDUE: "已逾期 overdue", LiveStatus.WAITING: "等待补充说明 waiting for clarification"}


def live_status(due_at: datetime, now: datetime, *, waiting: bool = False) -> LiveStatus:
    """The status of an item due at `due_at`, as of `now`."""
    if waiting:
        return LiveStatus.WAITING
    if now > due_at:
        return LiveStatus.OVERDUE
    return LiveStatus.DUE_TODAY if due_at <= end_of_day(local_day(now)) else LiveStatus.ON_TIME


class Window(NamedTuple):
    """The due times of items with one status as of a moment: after `after` (exclusive), up to `until` (inclusive);
    None: unbounded."""

    after: datetime | None
    until: datetime | None


def status_window(status: LiveStatus, now: datetime) -> Window:
    """Where due times of `status` lie as of `now` (not for ``waiting``, which is a state, not a time)."""
    tonight = end_of_day(local_day(now))
    return {LiveStatus.OVERDUE: Window(None, now), LiveStatus.DUE_TODAY: Window(now, tonight),
            LiveStatus.ON_TIME: Window(tonight, None)}[status]


@dataclass(frozen=True)
class AnswerDeadline:
    """When the sender's answer to a clarification request is due: 24:00 of the `days`-th working day after the day
    the request arrived, on the sender county's calendar (the arrival day is not counted, as for feedback). Computed
    when asked, from the calendars as they stand; no obligation is opened, so it counts in no figure of the monitor."""

    calendars: CalendarBook
    days: int = ANSWER_DAYS

    def due(self, county: str, received_at: datetime) -> DueTime:
        day, provisional = self.calendars.calendar_for(county).nth_working_day_after(local_day(received_at), self.days)
        return DueTime(end_of_day(day), provisional)


@dataclass(frozen=True, slots=True)
class NextStep:
    """What the county does next, in both languages, and where."""

    action: str
    zh: str
    en: str
    method: str
    href: str


@dataclass(frozen=True, slots=True)
class Item:
    """One thing a county must do. `county` acts; `sender` and `receiver` are the message's. `record_id`: the record
    a reply is about (a clarification request's record)."""

    kind: Kind
    message_id: str
    sender: str
    receiver: str
    county: str
    message_type: str
    received_at: datetime
    due_at: datetime
    provisional: bool
    status: LiveStatus
    next: NextStep
    record_id: str | None = None
    urgency: Urgency | None = None

    @property
    def position(self) -> Position:
        return Position(self.due_at, self.kind.value, self.sender, self.message_id)


class Position(NamedTuple):
    """Where an item stands in the list: soonest due first, then by kind, sender and id (so that pages never
    overlap or skip)."""

    due_at: datetime
    kind: str
    sender: str
    message_id: str


def feedback_step(message_id: str, sender: str, *, waiting: bool) -> NextStep:
    """Send feedback on a record; while the county waits for the sender's clarification, read the record's thread."""
    if waiting:
        return NextStep("await_clarification", "等待对方补充说明", "wait for the sender's clarification", "GET",
                        f"/v1/messages/{message_id}?sender={sender}")
    return NextStep("send_feedback", "反馈", "send feedback", "POST",
                    f"/v1/messages/{message_id}/feedback?sender={sender}")


def verification_step(request_id: str, requester: str, *, waiting: bool) -> NextStep:
    """Report the request's next step (配对, 核实, 协查反馈; GET the request shows where it stands)."""
    if waiting:
        return feedback_step(request_id, requester, waiting=True)
    return NextStep("report_verification_step", "报告协查进展（配对、核实、协查反馈）",
                    "report the next verification step (matched, verified, answered)", "POST",
                    f"/v1/messages/{request_id}/verification-steps?sender={requester}")


def roster_step(kind: Kind, month: str) -> NextStep:
    """What a discrepancy asks of each side: the registration county verifies and, if the person is gone, sends a
    return cancellation (which resolves it); the residence county checks its file. Both read the month's roster."""
    if kind is Kind.ROSTER_REGISTRATION:
        return NextStep("verify_and_cancel", "核实；已返回或离开的发送返回注销",
                        "verify; send a return cancellation if the person came home or left", "GET",
                        f"/v1/roster?month={month}")
    return NextStep("check_departure", "核实离开或未到达情况", "check the departure or non-arrival", "GET",
                    f"/v1/roster?month={month}")


def roster_due(month: str, cutoff_day: int) -> datetime:
    """A discrepancy of `month` is due when the next month's roster check may run: 24:00 of its cut-off day."""
    year, number = map(int, month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return end_of_day(date(year, number, cutoff_day))


def webhook_step(subscription: str, seq: int) -> NextStep:
    """A failed webhook delivery: fix the receiver, then send it again (or every failed one since a time)."""
    return NextStep("retry_webhook", "排查接收端后重新推送", "fix the receiver, then retry the delivery", "POST",
                    f"/v1/admin/webhooks/{subscription}/deliveries/{seq}/retry")


def clarification_step(request_id: str, asker: str) -> NextStep:
    return NextStep("answer_clarification", "补充说明", "answer the clarification request", "POST",
                    f"/v1/messages/{request_id}/clarification?sender={asker}")
