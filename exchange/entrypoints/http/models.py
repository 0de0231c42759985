"""What the HTTP API takes and answers, side by side: the request bodies it reads and the response models the
OpenAPI document promises local systems (the answers are serialised from these models)."""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from contracts.payloads.verification import Urgency
from exchange.adapters.api_keys import MAX_DAYS, MAX_NAME
from exchange.domain import DayKind, Status
from exchange.domain.agreements import FEEDBACK_DEADLINE_TYPES, URGENCIES, DeadlineUnit
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.figures import Basis
from exchange.domain.obligation import CancelReason, ReminderKind
from exchange.domain.principals import Role
from exchange.domain.webhooks import Outcome as WebhookOutcome
from exchange.domain.webhooks import State as WebhookState
from exchange.domain.webhooks import WebhookDeliveryState, WebhookKind
from exchange.domain.worklist import Kind as WorkKind
from exchange.domain.worklist import LiveStatus
from exchange.service.monitoring import GroupBy, VerificationGroupBy

#: Days the API accepts in parameters and bodies: working-day arithmetic needs room on both sides of a date.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2099, 12, 31)
#: An area: a province (33 or 330000), prefecture (3302) or county (330203) code.
AREA_PATTERN = r"^[0-9]{2}([0-9]{2}){0,2}$"


#: The days the node takes: 1900-01-01 to 2099-12-31, written YYYY-MM-DD (the calendars know no others).
DAY_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _iso_day(value: Any) -> Any:
    """Only YYYY-MM-DD of those years: pydantic would also read a number as a Unix time (?day=0 as 1970-01-01)."""
    if isinstance(value, date) and FIRST_DAY <= value <= LAST_DAY:
        return value
    if isinstance(value, str) and re.fullmatch(DAY_PATTERN, value):
        return value
    raise ValueError("a date from 1900-01-01 to 2099-12-31, written YYYY-MM-DD")


#: A day as the document declares it (format: date and its pattern), parsed as strictly.
Day = Annotated[date, BeforeValidator(_iso_day), WithJsonSchema({"type": "string", "format": "date",
                                                                  "pattern": DAY_PATTERN})]
#: A moment as the node has always written it (orjson, Python's isoformat: UTC as +00:00, never Z), documented as
#: an RFC 3339 date-time.
Timestamp = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
#: A moment the node has written already (isoformat: +00:00 or +08:00), passed on as it is and documented as an
#: RFC 3339 date-time.
TimestampText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
#: 24:00 Asia/Shanghai of a day, as the node writes it (isoformat). Not documented as an RFC 3339 date-time: for a
#: day before 1901 the zone's offset is Shanghai's local mean time, +08:05:43, which RFC 3339 cannot express.
DeadlineText = Annotated[str, WithJsonSchema({
    "type": "string", "description": "24:00 Asia/Shanghai of the day, ISO 8601 with its offset: +08:00 (before 1901 "
                                     "the local mean time, +08:05:43)."})]
#: A day (YYYY-MM-DD), as the node has written it.
DayText = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]


class Accepted(BaseModel):
    id: str = Field(description="Message id; use it to follow the message and to receive its feedback.")
    state: DeliveryState = DeliveryState.ACCEPTED


class BatchAccepted(BaseModel):
    ids: list[str] = Field(description="Message ids, in the order posted.")
    count: int


class MessageView(BaseModel):
    id: str
    direction: Direction
    type: str
    schema_version: str
    sender: str
    receiver: str
    state: DeliveryState
    in_reply_to: str | None = None
    agreement_id: str | None = None
    accepted_at: Timestamp | None = Field(None, description="When the sender's node stored it (outbound).")
    received_at: Timestamp | None = Field(None, description="When this node received it (inbound).")
    published_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    answered_at: Timestamp | None = None
    withdrawn_at: Timestamp | None = Field(
        None, description="When its sender withdrew it (撤回; a record only, never after its answer): sent, at the "
                          "sender's node; received, at the receiver's, whose obligation is then cancelled.")
    envelope: dict[str, Any] = Field(description="CloudEvents attributes.")
    data: dict[str, Any]
    feedback: list["MessageView"] | None = Field(None, description="Feedback: the first answers it, later ones amend.")
    obligation: dict[str, Any] | None = Field(
        None, description="For a record received: the feedback obligation, its deadline and live status."
    )
    withdrawal: "MessageView | None" = Field(None, description="For a record withdrawn: the withdrawal (撤回), "
                                                              "with its reason.")
    clarifications: "list[ClarificationView] | None" = Field(
        None, description="For a record: its clarification requests (请求补充说明, from its receiver) in order, each "
                          "with its sender's answer (补充说明) once given.")
    verification: "VerificationView | None" = Field(
        None, description="For a verification request (协查请求), on both sides: its urgency, current step, steps "
                          "and deadline.")
    thread: "list[ThreadEntry] | None" = Field(
        None, description="For a record: its whole thread in time order (sent, delivered, clarification requests "
                          "and answers, feedback and amendments, withdrawal), each with the acting county.")


class ThreadEntry(BaseModel):
    """One step of a record's thread: who did what, when."""

    at: TimestampText = Field(description="When it happened (for an act, when the acting county's node accepted it).")
    kind: str = Field(description="sent, delivered, clarification_requested, clarified, feedback, amendment, "
                                  "matched, verified, answered (a verification request's steps), withdrawn.")
    label: str = Field(description="The step in Chinese and English, e.g. 请求补充说明 clarification requested.")
    message_id: str = Field(description="The message of the step (the record itself for sent and delivered).")
    county: str = Field(description="The county that acted (received, for delivered).")
    principal: str | None = Field(None, description="Who acted for the county (API key, token subject), where this "
                                                    "node's evidence chain has it: only for this node's own acts.")
    due_at: DeadlineText | None = Field(
        None, description="clarification_requested, at the record's sender: when its answer (补充说明) is due.")
    status: Literal["on_time", "due_today", "overdue", "answered_on_time", "answered_late"] | None = Field(
        None, description="clarification_requested, at the record's sender: the answer's live status.")


class ClarificationView(BaseModel):
    request: MessageView = Field(description="The clarification request: reason and question.")
    answer: MessageView | None = Field(None, description="The sender's clarification, once answered.")


class VerificationStepView(BaseModel):
    """One step its receiver took (协查进展), with the step's own fields."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The verification_step message's id.")
    at: Timestamp = Field(description="When the receiver's node accepted it (receiver) or this node received it "
                                      "(requester).")
    step: Literal["matched", "verified", "answered"] = Field(description="matched 配对, verified 核实, answered 协查反馈")


class VerificationView(BaseModel):
    """Where a verification request stands (协查进展)."""

    urgency: str = Field(description="urgent 紧急, expedited 急, certificate_check 证明核验")
    step: Literal["received", "matched", "verified", "answered"] | None = Field(
        description="Its current step: received 已接收, matched 配对, verified 核实, answered 协查反馈; none before it "
                    "was delivered.")
    due_at: DeadlineText | None = Field(description="Its deadline at the receiver (from its urgency); the requester's "
                                                 "node reckons it from the delivery time.")
    steps: list[VerificationStepView]


class InboxPage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None = Field(description="Pass as cursor to read on, now or later.")
    has_more: bool


class NextStepView(BaseModel):
    action: str = Field(description="send_feedback, await_clarification, answer_clarification (more as kinds are "
                                    "added).")
    zh: str = Field(description="What to do, in Chinese: 反馈, 补充说明, 等待对方补充说明.")
    en: str
    method: Literal["GET", "POST"]
    href: str = Field(description="Where to do it, on this node.")


class WorklistItem(BaseModel):
    """One thing a county must do: ids, codes and times only, never a personal field."""

    kind: WorkKind = Field(description="feedback (反馈): a record received awaiting feedback; clarification (补充说明): "
                                       "a clarification request received about a record the county sent.")
    kind_label: str
    message_id: str = Field(description="The message to act on: the record, or the clarification request.")
    record_id: str | None = Field(None, description="clarification: the record the request is about.")
    sender: str
    receiver: str
    county: str = Field(description="The caller's county that must act.")
    message_type: str
    received_at: TimestampText
    due_at: DeadlineText
    provisional: bool = Field(description="The due time depends on a year whose holiday schedule is not published.")
    status: LiveStatus = Field(description="on_time 未到期, due_today 今日到期, overdue 已逾期 (computed now, Asia/Shanghai); "
                                           "waiting 等待补充说明: feedback paused until the sender's clarification.")
    status_label: str
    urgency: Urgency | None = Field(None, description="A verification request's urgency.")
    next: NextStepView


class WorklistPage(BaseModel):
    as_of: TimestampText
    items: list[WorklistItem] = Field(description="Soonest due first.")
    next_cursor: str | None = Field(description="Pass as cursor to read on.")
    has_more: bool


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: bool
    broker: bool
    stopped: list[str] = Field(default_factory=list, description="Feeds or tasks that stopped (not ready).")


class ProblemFieldError(BaseModel):
    """One field that failed its contract: where and why, never the value submitted."""

    field: str = Field(description="Where, as a path: data/person/id_number, query/limit, …")
    code: str = Field(description="Stable code, e.g. invalid_id_checksum, missing, string_too_long.")
    message: str
    message_zh: str


class ProblemView(BaseModel):
    """RFC 9457 problem details, in English and Chinese."""

    type: str = Field(description="urn:mpx:problem:<code>")
    title: str
    title_zh: str
    status: int
    detail: str
    detail_zh: str
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None
    senders: list[str] | None = Field(None, description="sender_required: the counties that sent the caller's "
                                                       "counties a message with this id; name one with ?sender=")


# -- deadline rules: calendars and agreements ------------------------------------------------------------------

#: Free text stored as it is: no control characters (PostgreSQL refuses NUL in text).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]
#: Longest range of days one override may cover.
MAX_OVERRIDE_DAYS = 366


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(pattern=AREA_PATTERN, description="Province, prefecture or county code (GB/T 2260).")
    date: Annotated[Day, Field(ge=FIRST_DAY, le=LAST_DAY)]
    until: Day | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                               description=f"Last day of a range (inclusive), at most {MAX_OVERRIDE_DAYS} days.")
    kind: DayKind
    name: Text = Field("", max_length=128)

    @model_validator(mode="after")
    def _a_short_range(self) -> "OverrideIn":
        if self.until is not None and not 0 <= (self.until - self.date).days < MAX_OVERRIDE_DAYS:
            raise ValueError(f"until must be on or after date, at most {MAX_OVERRIDE_DAYS} days in all")
        return self


#: The record types an agreement sets feedback and sender deadlines for, and the urgencies of verification requests.
RecordTypeName = Literal[tuple(sorted(FEEDBACK_DEADLINE_TYPES))]  # type: ignore[valid-type]
UrgencyName = Literal[tuple(sorted(URGENCIES))]  # type: ignore[valid-type]


#: No deadline is longer than ten years.
MAX_DEADLINE_DAYS = 3650
#: A deadline given as a bare number: working days.
WorkingDays = Annotated[int, Field(ge=1, le=MAX_DEADLINE_DAYS)]


class DeadlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, le=MAX_DEADLINE_DAYS, description="Days after the receipt day (which never counts).")
    unit: Literal["working", "calendar"] = "working"


class AgreementIn(BaseModel):
    """A cooperation agreement (区域协作协议) as an admin posts it; the shape is checked here, the rules by
    `exchange.domain.Agreement`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="As messages name it in agreement_id.")
    version: int = Field(ge=1, le=2**31 - 1, description="Versions are immutable; a change is a new version.")
    name: Text = Field("", max_length=200)
    parties: list[Annotated[str, Field(pattern=AREA_PATTERN)]] = Field(min_length=1, max_length=100,
                               description="Region codes at any level (330000 covers all of Zhejiang).")
    effective_from: Day
    effective_to: Day | None = Field(None, description="Last day in force (inclusive); none: until further notice.")
    feedback_deadlines: dict[RecordTypeName, WorkingDays | DeadlineIn] = Field(
        default_factory=dict, description="Per record type: working days, or {days, unit}.")
    sender_deadlines: dict[RecordTypeName, WorkingDays | DeadlineIn] = Field(default_factory=dict)
    covers_within_party: bool = False
    verification_deadlines: dict[UrgencyName, WorkingDays | DeadlineIn] = Field(
        default_factory=dict, description="协查时限 — per verification urgency (urgent 紧急, expedited 急, "
                                          "certificate_check 证明核验): working days, or {days, unit}; unset: "
                                          "15, 30 and 7 calendar days.")


class CalendarDay(BaseModel):
    """A day of a region's working-day calendar, and the n-th working day after it."""

    region: str
    name: str | None = Field(description="The region's name (GB/T 2260).")
    calendar_id: str = Field(description="The calendar and its revision, as obligations name it.")
    date: DayText
    is_working_day: bool
    n: int
    nth_working_day_after: DayText | None = Field(description="None when n is 0.")
    due_at: DeadlineText | None = Field(description="24:00 of the n-th working day: a deadline of n working days.")
    provisional: bool = Field(description="The n-th working day lies in a year whose holidays are not published yet.")


class OverrideView(BaseModel):
    """An extra holiday or working day of a region."""

    region: str = Field(description="The area's code, padded to six digits (620000: all of Gansu).")
    date: DayText
    kind: DayKind
    name: str
    source: str = Field(description="Where the entry comes from (a calendar file); empty when an admin added it.")


class OverridesAdded(BaseModel):
    region: str
    days: list[DayText]
    calendar_id: str = Field(description="The region's calendar with the new days (its next revision).")


class DeadlineView(BaseModel):
    days: int
    unit: DeadlineUnit


class AgreementView(BaseModel):
    """A version of a cooperation agreement (区域协作协议) as this node holds it."""

    id: str
    version: int
    name: str
    parties: list[str]
    effective_from: DayText
    effective_to: DayText | None
    feedback_deadlines: dict[str, DeadlineView]
    sender_deadlines: dict[str, DeadlineView]
    covers_within_party: bool
    verification_deadlines: dict[str, DeadlineView] = {}


# -- obligations and reminders ---------------------------------------------------------------------------------

class SenderSide(BaseModel):
    """The sender's own deadline: to send the record within so many days of the event it reports."""

    due_at: DeadlineText
    due_day: DayText
    sent_at: TimestampText
    late: bool
    provisional: bool
    agreement_id: str
    agreement_version: int


class ObligationView(BaseModel):
    """A feedback obligation of one of the caller's counties, with its live status."""

    message_id: str
    message_type: str
    sender: str
    receiver: str
    status: Status = Field(description="As of the answer's as_of: overdue is computed then.")
    received_at: TimestampText
    due_at: TimestampText
    provisional: bool
    agreement_id: str
    agreement_version: int
    deadline: DeadlineView
    calendar_id: str
    answered_at: TimestampText | None
    feedback_id: str | None = Field(description="The first feedback, which stopped the clock.")
    response_working_days: int | None
    amendments: list[str] = Field(description="Ids of the feedback after the first.")
    cancelled_at: TimestampText | None
    cancel_reason: CancelReason | None
    paused_working_days: int
    sender_side: SenderSide | None
    urgency: str | None = Field(None, description="紧急程度 — a verification request's urgency (urgent 紧急, expedited 急, "
                                                 "certificate_check 证明核验); none for a record.")


class ObligationPage(BaseModel):
    as_of: TimestampText
    items: list[ObligationView] = Field(description="By deadline, at most limit.")
    count: int = Field(description="All the obligations asked for (with the status asked), not only this page.")


class ReminderView(BaseModel):
    message_id: str
    sender: str
    kind: ReminderKind
    receiver: str
    due_at: TimestampText
    fire_at: TimestampText
    emitted_at: TimestampText


# -- operations: quarantine and reconciliation ------------------------------------------------------------------

class QuarantinedRecord(BaseModel):
    """Where a record this node could not process came from and why; never its headers or payload."""

    seq: int
    reason_code: str
    reason: str
    topic: str
    partition: int
    offset: int
    message_id: str | None
    received_at: Timestamp
    replayed_at: Timestamp | None
    replay_result: str | None = Field(description="stored, duplicate, or the code it was rejected with again.")


class QuarantinePage(BaseModel):
    items: list[QuarantinedRecord]
    has_more: bool
    next_after: int | None = Field(description="Pass as after to read on.")


class Replayed(BaseModel):
    seq: int
    result: Literal["stored", "duplicate"]
    message_id: str | None


class DigestsSent(BaseModel):
    county: str
    peer: str
    total: int = Field(description="Messages the county sent the peer that day.")
    parts: int = Field(description="Digest records they took.")


class ReconciliationRun(BaseModel):
    day: DayText
    until: TimestampText = Field(description="The digests cover the day up to this moment.")
    digests: list[DigestsSent]


class ReconciliationEntry(BaseModel):
    """A digest sent, or a resend request served."""

    seq: int
    kind: Literal["digest_sent", "resend_served"]
    county: str = Field(description="The county served here.")
    peer: str = Field(description="The county on the other side.")
    day: DayText
    digest_id: str
    part: int
    parts: int
    total: int
    count: int
    missing: int
    missing_ids: list[str]
    at: TimestampText


class CheckedDigest(ReconciliationEntry):
    """A digest received and checked: the ids it listed that were missing here, and how many still are."""

    kind: Literal["digest_checked"]  # type: ignore[assignment]
    still_missing: int
    status: Literal["complete", "healed", "gap"]


class ReconciliationReport(BaseModel):
    items: list[Annotated[ReconciliationEntry | CheckedDigest, Field(discriminator="kind")]] = Field(
        description="Newest first.")
    open_gaps: int


# -- the monitor -----------------------------------------------------------------------------------------------

class ReceiverFigures(BaseModel):
    """Feedback timeliness of a group (exchange/domain/figures.py): counts, rates (None when nothing is due) and
    response times in working days."""

    due: int
    answered: int
    answered_on_time: int
    answered_late: int
    overdue_open: int
    open_not_due: int
    cancelled: int
    feedback_rate: float | None
    on_time_rate: float | None
    median_response_working_days: int | None
    p90_response_working_days: int | None
    response_histogram: list[tuple[int, int]] = Field(description="(working days, answers) pairs.")
    assessable_due: int
    assessable_answered: int
    assessable_answered_on_time: int
    assessable_answered_late: int
    assessable_feedback_rate: float | None
    assessable_on_time_rate: float | None
    not_yet_due: int
    not_yet_due_answered: int
    withdrawn: int = Field(0, description="Of the cancelled: withdrawn by their sender (撤回); like every "
                                          "cancelled obligation, in no denominator.")
    clarified: int = Field(0, description="Of the due: paused for clarification (请求补充说明) at least once.")
    clarification_rate: float | None = Field(None, description="clarified / due.")
    paused_working_days: int = Field(0, description="The clarified ones' working days paused, summed.")
    mean_paused_working_days: float | None = Field(None, description="paused_working_days / clarified.")
    headline_feedback_rate: float | None
    headline_on_time_rate: float | None


class Group(BaseModel):
    group: str = Field(description="A region code, agreement id@version, message type or month (YYYY-MM).")
    name: str | None = Field(description="A region's name.")


class ReceiverGroup(ReceiverFigures, Group):
    pass


class SenderFigures(BaseModel):
    due: int
    sent_on_time: int
    sent_late: int
    on_time_rate: float | None


class SenderGroup(SenderFigures, Group):
    pass


class ReceiverTimeliness(BaseModel):
    cohort: str
    from_: DayText = Field(alias="from")
    to: DayText
    as_of: TimestampText
    side: Literal["receiver"]
    group_by: GroupBy
    groups: list[ReceiverGroup]
    total: ReceiverFigures
    period_ended: bool
    headline: Basis
    definitions: dict[str, str]


class VerificationFigures(BaseModel):
    """The verification requests' figures (协查反馈率 feedback_rate, on_time_rate), as the receiver side's timeliness:
    the same counts and definitions, of the verification requests only; a group by urgency is named in Chinese."""

    cohort: str
    from_: DayText = Field(alias="from")
    to: DayText
    as_of: TimestampText
    group_by: VerificationGroupBy
    groups: list[ReceiverGroup]
    total: ReceiverFigures
    period_ended: bool
    headline: Basis
    definitions: dict[str, str]


class SenderTimeliness(BaseModel):
    cohort: str
    from_: DayText = Field(alias="from")
    to: DayText
    as_of: TimestampText
    side: Literal["sender"]
    group_by: GroupBy
    groups: list[SenderGroup]
    total: SenderFigures


#: GET /v1/monitor/timeliness as JSON: the receiver side's figures, or the sender side's.
TimelinessView = Annotated[ReceiverTimeliness | SenderTimeliness, Field(discriminator="side")]


class BulletinRow(BaseModel):
    """A county's month in the bulletin (exchange/domain/bulletin.py), or the province's total (no rank)."""

    rank: int | None = Field(description="1 for the highest on-time rate; null without a rate (and for the total).")
    county: str
    name: str | None
    received: int
    sent: int
    answered: int
    answered_on_time: int
    answered_late: int
    overdue_at_month_end: int
    withdrawn: int
    on_time_rate: float | None
    previous_on_time_rate: float | None
    change_points: float | None = Field(description="on_time_rate - previous_on_time_rate, percentage points.")


class BulletinView(BaseModel):
    """GET /v1/monitor/bulletin: the monthly bulletin (月度通报) of a province."""

    month: str
    province: str
    name: str | None
    from_: DayText = Field(alias="from")
    to: DayText
    as_of: TimestampText
    month_closed: bool = Field(description="Every deadline of the month has passed as of as_of.")
    overdue_as_of: TimestampText = Field(description="The instant overdue_at_month_end is counted at.")
    headline: Basis = Field(description="Which on-time rate ranks the counties: cohort (closed) or assessable.")
    cohort: str
    ranking: str
    definitions: dict[str, str]
    counties: list[BulletinRow] = Field(description="In rank order.")
    total: BulletinRow


class OverdueItem(BaseModel):
    message_id: str
    message_type: str
    sender: str
    receiver: str
    due_at: TimestampText
    due_day: DayText
    working_days_overdue: int


class OverduePage(BaseModel):
    as_of: TimestampText
    count: int = Field(description="All overdue obligations, not only this page.")
    items: list[OverdueItem]
    limit: int
    has_more: bool
    next_cursor: str | None = Field(description="Pass as cursor to read on.")


# -- API keys ------------------------------------------------------------------------------------------------

class KeyIn(BaseModel):
    """A key as an admin asks for it; the rules beyond its shape are `mpx keys create`'s."""

    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="county_system, county_operator or admin on a node; provincial_monitor, "
                                   "national_monitor or admin on a monitor.")
    name: Text = Field(min_length=1, max_length=MAX_NAME, description="Who holds it, e.g. 徽县卫健局流动人口信息系统.")
    counties: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(
        default_factory=list, max_length=100,
        description="County roles: the counties it acts for, each served by this node.")
    provinces: list[Annotated[str, Field(pattern=r"^[0-9]{2}(0000)?$")]] = Field(
        default_factory=list, max_length=34,
        description="provincial_monitor: the provinces it oversees (33 or 330000), within the monitor's scope.")
    days: int = Field(365, ge=1, le=MAX_DAYS, description="Days until it expires.")


class KeyView(BaseModel):
    """A key as listed: never its secret nor the secret's hash."""

    key_id: str
    name: str
    role: Role
    counties: list[str]
    provinces: list[str]
    created_at: str = Field(description="ISO 8601, UTC.")
    expires_at: str | None
    revoked_at: str | None


class IssuedKeyView(KeyView):
    key: str = Field(description="The key, mpx_<key id>_<secret>: shown in this answer only, stored only hashed.")


class KeyList(BaseModel):
    items: list[KeyView]


#: A calendar month, YYYY-MM (the roster check's).
MONTH_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"


class RosterRunIn(BaseModel):
    """POST /v1/admin/roster-runs: the month whose rosters to send."""

    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=MONTH_PATTERN, description="清查月份 — YYYY-MM; runs on or after its cut-off day.")


class RosterSent(BaseModel):
    roster_id: str = Field(description="The roster's (its first part's) id.")
    registration_county: str
    residence_county: str
    entries: int = Field(description="Persons on the roster.")
    parts: int = Field(description="Roster messages it takes (at most 500 persons each).")


class RosterRun(BaseModel):
    month: str
    sent: list[RosterSent] = Field(description="Rosters sent by this run.")
    already_sent: list[RosterSent] = Field(description="Pairs whose roster of the month went out before: sent "
                                                       "nothing (as it is now, for information).")


class RosterKept(BaseModel):
    """A roster (or part of one) this node's county sent or answered, with the answer's counts once answered."""

    side: Literal["registration", "residence"] = Field(description="registration: sent it; residence: answered it.")
    month: str
    registration_county: str
    residence_county: str
    roster_id: str
    part: int
    parts: int
    entries: int
    sent_at: Timestamp = Field(description="Sent (registration county) or received (residence county).")
    answered_at: Timestamp | None
    still_here: int | None
    left: int | None
    never_arrived: int | None
    unknown: int | None
    match_rate: float | None = Field(description="still_here ÷ entries, once answered.")


class RosterDiscrepancy(BaseModel):
    """A person not found still there, as one side follows it up: ids and codes only."""

    month: str
    side: Literal["registration", "residence"]
    registration_county: str
    residence_county: str
    registration_id: str = Field(description="The outflow registration (外出登记) concerned.")
    roster_id: str
    finding: Literal["left", "never_arrived", "unknown"]
    new_region: str | None = Field(description="Where the person went, if the residence county knows.")
    next_step: str = Field(description="下一步 — what this side is to do (Chinese).")
    next_step_en: str = Field(description="What this side is to do (English).")
    found_at: Timestamp
    resolved_at: Timestamp | None = Field(description="When a return cancellation of the registration resolved it.")
    resolved_by: str | None = Field(description="That return cancellation's id.")


class RosterView(BaseModel):
    month: str
    rosters: list[RosterKept]
    discrepancies: list[RosterDiscrepancy]


class RosterPair(BaseModel):
    registration_county: str
    registration_name: str | None
    residence_county: str
    residence_name: str | None
    entries: int
    still_here: int
    left: int
    never_arrived: int
    unknown: int
    match_rate: float | None = Field(description="清查匹配率: still_here ÷ entries.")
    parts: int = Field(description="The roster's parts.")
    parts_answered: int = Field(description="Parts answered so far (the counts are theirs).")
    answered_at: TimestampText = Field(description="The last part's answer.")


class RosterTotal(BaseModel):
    entries: int
    still_here: int
    left: int
    never_arrived: int
    unknown: int
    match_rate: float | None = Field(description="The ratio of the sums.")


class RosterMatchView(BaseModel):
    month: str
    definitions: dict[str, str]
    pairs: list[RosterPair]
    total: RosterTotal


class WebhookIn(BaseModel):
    """A webhook subscription as a county's system or an admin asks for it (推送订阅)."""

    model_config = ConfigDict(extra="forbid")

    county: str = Field(pattern=r"^[0-9]{6}$", description="The county whose events are pushed: one this node serves "
                                                           "and the caller acts for.")
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://[^\x00-\x20\x7f]+$",
                     description="Where to POST: an http(s) URL on a host this node may post to (MPX_WEBHOOK_HOSTS).")
    kinds: list[WebhookKind] = Field(min_length=1, max_length=4, description="record_received 收到业务报文, "
                                     "feedback_received 收到反馈, state_changed 状态变化, todo_due 待办到期.")


class WebhookView(BaseModel):
    """A subscription as listed: never its secret."""

    id: str
    county: str
    url: str
    kinds: list[WebhookKind]
    state: WebhookState = Field(description="active 推送中, paused 已暂停 (events held), disabled 已停用 (410 Gone, or "
                                            "failing too long: `disabled_reason`).")
    disabled_reason: str | None
    failing_since: TimestampText | None
    created_at: TimestampText
    created_by: str | None


class IssuedWebhookView(WebhookView):
    secret: str = Field(description="The signing secret (Standard Webhooks whsec_…): shown in this answer only.")


class WebhookList(BaseModel):
    items: list[WebhookView]


class WebhookAttemptView(BaseModel):
    attempt: int
    at: TimestampText
    status: int | None = Field(description="The HTTP status answered; none: no answer in time or no connection.")
    duration_ms: int
    outcome: WebhookOutcome
    error: str | None = Field(description="Why it failed (never the payload).")


class WebhookDeliveryView(BaseModel):
    """One event to one subscription, with every attempt; never its payload."""

    seq: int
    event_id: str = Field(description="The webhook-id header: the same for every attempt.")
    type: str
    county: str
    message_id: str | None
    state: WebhookDeliveryState
    attempts: int
    created_at: TimestampText
    next_attempt_at: TimestampText | None
    finished_at: TimestampText | None
    log: list[WebhookAttemptView]


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryView] = Field(description="Newest first.")


class WebhookRetryIn(BaseModel):
    """Retry every failed delivery of the subscription stored since `since`."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(description="ISO 8601 with its offset.")


class WebhookRetried(BaseModel):
    retried: int = Field(description="Deliveries to be sent again, in their order.")
