"""Commands a local case system gives its node: send these messages, answer that one.

Pydantic models, because they are also what the HTTP API accepts (its request bodies); the sending service
takes them as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts import CONTROL_TYPES, ROSTER_TYPES, MessageType

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
#: A county code: six digits (that they name a real county is the envelope's check, in Chinese and English).
COUNTY_PATTERN = r"^[0-9]{6}$"
#: Nodes make control records themselves; a withdrawal is made by POST /v1/messages/{id}/withdrawal only (once per
#: record, never after its answer); rosters and their answers by the node's roster check (exchange/service/roster.py).
SUBMITTABLE = [t for t in MessageType if t not in CONTROL_TYPES and t not in ROSTER_TYPES and t not in (
    MessageType.WITHDRAWAL, MessageType.CLARIFICATION_REQUEST, MessageType.CLARIFICATION,
    MessageType.VERIFICATION_STEP)]


class MessageIn(BaseModel):
    """One message as a local case system posts it; the node adds the CloudEvents attributes."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None, pattern=ID_PATTERN, description="Client-chosen message id; posting the same id again is idempotent."
    )
    type: str = Field(description="One of: " + ", ".join(t.value for t in SUBMITTABLE))
    schema_version: str = Field("1.0", description="Payload schema version (contracts/schemas/<version>/).")
    sender: str = Field(pattern=COUNTY_PATTERN, json_schema_extra={"format": "gbt2260-region"}, examples=["621227"],
                        description="Sending county code (must be served by this node).")
    receiver: str = Field(pattern=COUNTY_PATTERN, json_schema_extra={"format": "gbt2260-region"}, examples=["330203"],
                          description="Receiving county code (GB/T 2260).")
    in_reply_to: str | None = Field(None, pattern=ID_PATTERN, description="For feedback: the message answered.")
    agreement_id: str | None = Field(None, pattern=ID_PATTERN,
                                     description="Cooperation agreement the exchange runs under.")
    subject: str | None = Field(None, min_length=1, max_length=128,
                                description="Local case reference; never personal data.")
    data: dict[str, Any] = Field(description="The event payload; its schema depends on type and schema_version.")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[MessageIn] = Field(min_length=1)


class FeedbackIn(BaseModel):
    """An answer posted to POST /v1/messages/{id}/feedback; sender, receiver and reply link come from the original."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=ID_PATTERN, description="Client-chosen id of the feedback message.")
    schema_version: str = "1.0"
    data: dict[str, Any] = Field(description="The feedback payload (status, reason, …).")


class WithdrawalIn(BaseModel):
    """A withdrawal posted to POST /v1/messages/{id}/withdrawal: sender, receiver and the record withdrawn come from
    the record; its id is the node's (one withdrawal per record)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = "1.0"
    data: dict[str, Any] = Field(description="The withdrawal payload: reason (sent_in_error 误发, wrong_receiver 接收地"
                                             "有误, wrong_person 人员信息有误, duplicate 重复发送, other 其他), remarks.")


class ClarificationRequestIn(BaseModel):
    """A clarification request posted to POST /v1/messages/{id}/clarification-request by the record's receiver: sender,
    receiver and the record come from the record; its id is the node's."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = "1.0"
    data: dict[str, Any] = Field(description="The request: reason (missing_field 信息缺项, contradictory 信息矛盾, "
                                             "person_not_found 查无此人, unreadable 无法识别, other 其他), question.")


class ClarificationIn(BaseModel):
    """A clarification posted to POST /v1/messages/{request id}/clarification by the record's sender, answering a
    clarification request it received; its id is the node's (one answer per request)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = "1.0"
    data: dict[str, Any] = Field(description="The clarification: answer.")


class VerificationStepIn(BaseModel):
    """A step on a verification request (协查进展), posted to POST /v1/messages/{request id}/verification-steps by the
    county that received the request; its id is the node's (one per step)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = "1.0"
    data: dict[str, Any] = Field(description="The step: matched 配对 with found, verified 核实 with method (visit 入户, "
                                             "phone 电话, records 档案), answered 协查反馈 with result (confirmed 属实, "
                                             "not_confirmed 不属实, not_found 查无此人, partly_confirmed 部分属实) and "
                                             "findings.")
