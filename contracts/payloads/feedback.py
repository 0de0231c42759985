"""反馈 — feedback, v1.0: the receiver of a record answers its sender; this is
what the two-way assessment counts (seed 002: 对异地提交的信息应在5个工作日完成反馈).
The envelope's ``inreplyto`` names the record answered.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import ContractModel, Remarks, ShortText
from contracts.dates import EventDate
from contracts.errors import custom_error
from contracts.regions import CountyCode


class FeedbackStatus(StrEnum):
    """反馈状态 — what became of the record at the receiver."""

    RECEIVED = "received"  # 已接收
    CONFIRMED = "confirmed"  # 已核实
    NOT_FOUND = "not_found"  # 查无此人
    MOVED_ON = "moved_on"  # 已再流动
    REJECTED = "rejected"  # 退回


#: Statuses that need a reason so the sender can act on them.
NEEDS_REASON = frozenset({FeedbackStatus.NOT_FOUND, FeedbackStatus.MOVED_ON, FeedbackStatus.REJECTED})


class Feedback(ContractModel):
    """Feedback (反馈), payload schema 1.0."""

    status: FeedbackStatus = Field(description="反馈状态 — status of the record at the receiver")
    reason: Remarks | None = Field(
        default=None,
        validate_default=True,
        description="原因 — reason; required for not_found, moved_on and rejected",
    )
    new_region: CountyCode | None = Field(
        default=None,
        validate_default=True,
        description="新流入地 — county code (GB/T 2260) the person moved on to; required if and only if moved_on",
    )
    handled_by: ShortText | None = Field(default=None, description="经办人/经办单位 — officer or unit that handled it")
    handled_on: EventDate = Field(description="反馈日期 — date the receiver handled the record")
    remarks: Remarks | None = Field(default=None, description="备注 — remarks")

    @field_validator("reason")
    @classmethod
    def _reason_when_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        if value is None and info.data.get("status") in NEEDS_REASON:
            raise custom_error("feedback_reason_required")
        return value

    @field_validator("new_region")
    @classmethod
    def _new_region_iff_moved_on(cls, value: str | None, info: ValidationInfo) -> str | None:
        status = info.data.get("status")
        if status is FeedbackStatus.MOVED_ON and value is None:
            raise custom_error("new_region_required")
        if status is not None and status is not FeedbackStatus.MOVED_ON and value is not None:
            raise custom_error("new_region_forbidden")
        return value
