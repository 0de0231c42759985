"""请求补充说明 / 补充说明 — clarification, v1.0.

A record's receiver asks its sender to clarify it (``clarification_request``: the envelope's ``inreplyto`` names the
record, one the sender sent that receiver); the receiver's feedback clock pauses. The sender answers
(``clarification``: ``inreplyto`` names the request); the clock resumes, the deadline moved by the working days
paused. Free text only: no personal field beyond what the record already names.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from contracts.base import ContractModel, Remarks


class ClarificationReason(StrEnum):
    """请求补充说明原因 — what needs clarifying."""

    MISSING_FIELD = "missing_field"  # 信息缺项
    CONTRADICTORY = "contradictory"  # 信息矛盾
    PERSON_NOT_FOUND = "person_not_found"  # 查无此人
    UNREADABLE = "unreadable"  # 无法识别
    OTHER = "other"  # 其他


class ClarificationRequest(ContractModel):
    """Clarification request (请求补充说明), payload schema 1.0."""

    reason: ClarificationReason = Field(
        description="原因 — reason: missing_field 信息缺项, contradictory 信息矛盾, person_not_found 查无此人, "
                    "unreadable 无法识别, other 其他"
    )
    question: Remarks = Field(description="问题 — what the receiver asks (free text)")


class Clarification(ContractModel):
    """Clarification (补充说明), the answer to a clarification request, payload schema 1.0."""

    answer: Remarks = Field(description="答复 — the sender's answer (free text)")
