"""What the HTTP API takes and answers, side by side: the request bodies it reads and the response models the
OpenAPI document promises local systems (the answers are serialised from these models)."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, WithJsonSchema, model_validator

from exchange.adapters.api_keys import MAX_DAYS, MAX_NAME
from exchange.domain import DayKind
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.principals import Role

#: Days the API accepts in parameters and bodies: working-day arithmetic needs room on both sides of a date.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2099, 12, 31)
#: A moment as the node has always written it (orjson, Python's isoformat: UTC as +00:00, never Z), documented as
#: an RFC 3339 date-time.
Timestamp = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "format": "date-time"})]


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
    envelope: dict[str, Any] = Field(description="CloudEvents attributes.")
    data: dict[str, Any]
    feedback: list["MessageView"] | None = Field(None, description="Feedback: the first answers it, later ones amend.")
    obligation: dict[str, Any] | None = Field(
        None, description="For a record received: the feedback obligation, its deadline and live status."
    )


class InboxPage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None = Field(description="Pass as cursor to read on, now or later.")
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

    region: str = Field(description="Province, prefecture or county code (GB/T 2260).")
    date: Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
    until: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                               description=f"Last day of a range (inclusive), at most {MAX_OVERRIDE_DAYS} days.")
    kind: DayKind
    name: Text = Field("", max_length=128)

    @model_validator(mode="after")
    def _a_short_range(self) -> "OverrideIn":
        if self.until is not None and not 0 <= (self.until - self.date).days < MAX_OVERRIDE_DAYS:
            raise ValueError(f"until must be on or after date, at most {MAX_OVERRIDE_DAYS} days in all")
        return self


class DeadlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, description="Days after the receipt day (which never counts).")
    unit: Literal["working", "calendar"] = "working"


class AgreementIn(BaseModel):
    """A cooperation agreement (区域协作协议) as an admin posts it; the shape is checked here, the rules by
    `exchange.domain.Agreement`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="As messages name it in agreement_id.")
    version: int = Field(ge=1, le=2**31 - 1, description="Versions are immutable; a change is a new version.")
    name: Text = Field("", max_length=200)
    parties: list[str] = Field(min_length=1, max_length=100,
                               description="Region codes at any level (330000 covers all of Zhejiang).")
    effective_from: date
    effective_to: date | None = Field(None, description="Last day in force (inclusive); none: until further notice.")
    feedback_deadlines: dict[str, int | DeadlineIn] = Field(
        default_factory=dict, description="Per record type: working days, or {days, unit}.")
    sender_deadlines: dict[str, int | DeadlineIn] = Field(default_factory=dict)
    covers_within_party: bool = False


# -- API keys ------------------------------------------------------------------------------------------------

class KeyIn(BaseModel):
    """A key as an admin asks for it; the rules beyond its shape are `mpx keys create`'s."""

    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="county_system, county_operator or admin on a node; provincial_monitor, "
                                   "national_monitor or admin on a monitor.")
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Who holds it, e.g. 徽县卫健局流动人口信息系统.")
    counties: list[Annotated[str, Field(max_length=6)]] = Field(
        default_factory=list, max_length=100,
        description="County roles: the counties it acts for, each served by this node.")
    provinces: list[Annotated[str, Field(max_length=6)]] = Field(
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
