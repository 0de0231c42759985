"""A county's to-do list (待办): what it must do, by when, and how urgent it is now.

Every item is something the county itself must act on, with a due time (24:00 Asia/Shanghai of a day, as every
deadline of the exchange) and a live status decided at each query from "now", never stored:

- ``overdue`` (已逾期): the due time has passed;
- ``due_today`` (今日到期): not passed, and the due time is 24:00 of today (Asia/Shanghai);
- ``on_time`` (未到期): due after today;
- ``waiting`` (等待补充说明): the county's clock is paused because it asked the record's sender for clarification;
  nothing to do until the answer comes (a paused obligation is never overdue, see ``obligation``).

Kinds of item: ``feedback`` (a record received awaiting feedback: an open obligation) and ``clarification`` (a
clarification request received about a record the county sent: the sender's answer, 补充说明, is due
``answer_days`` working days after the request arrived, on the sender county's calendar). Other kinds (verification
requests, roster discrepancies) join by adding a member to ``Kind`` and an item source to the worklist service.
Items carry ids and codes only, never a personal field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from exchange.domain.calendar import CalendarBook
from exchange.domain.obligation import DueTime, end_of_day, local_day

#: Working days the sender of a record has to answer a clarification request about it (MPX_CLARIFICATION_ANSWER_DAYS).
ANSWER_DAYS = 3


class Kind(StrEnum):
    FEEDBACK = "feedback"  # 反馈: a record received, awaiting feedback
    CLARIFICATION = "clarification"  # 补充说明: a clarification request received, awaiting the answer


class LiveStatus(StrEnum):
    ON_TIME = "on_time"
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"
    WAITING = "waiting"


class Urgency(StrEnum):
    """The urgency of a verification request (协查), which sets its deadline; no item has one yet."""

    URGENT = "urgent"  # 紧急 (e.g. a current pregnancy)
    PRESSING = "pressing"  # 急
    CERTIFICATE = "certificate"  # 证明核查 (the 婚育证明 certificate check)


KIND_LABELS = {Kind.FEEDBACK: "反馈 feedback", Kind.CLARIFICATION: "补充说明 clarification"}
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


def clarification_step(request_id: str, asker: str) -> NextStep:
    return NextStep("answer_clarification", "补充说明", "answer the clarification request", "POST",
                    f"/v1/messages/{request_id}/clarification?sender={asker}")
