"""Response models: what the OpenAPI document promises local systems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from exchange.domain.delivery import DeliveryState, Direction


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
    accepted_at: datetime | None = Field(None, description="When the sender's node stored it (outbound).")
    received_at: datetime | None = Field(None, description="When this node received it (inbound).")
    published_at: datetime | None = None
    delivered_at: datetime | None = None
    answered_at: datetime | None = None
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
