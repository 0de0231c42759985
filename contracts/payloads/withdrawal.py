"""撤回 — withdrawal, v1.0: the sender of a record withdraws it from its receiver (sent in error, to the wrong
county, about the wrong person, twice), until the receiver has answered it. The envelope's ``inreplyto`` names
the record withdrawn, one its sender sent that receiver; the receiver's feedback obligation is cancelled.
No personal field: the record it withdraws already names the person.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from contracts.base import ContractModel, Remarks


class WithdrawalReason(StrEnum):
    """撤回原因 — why the record is withdrawn."""

    SENT_IN_ERROR = "sent_in_error"  # 误发
    WRONG_RECEIVER = "wrong_receiver"  # 接收地有误
    WRONG_PERSON = "wrong_person"  # 人员信息有误
    DUPLICATE = "duplicate"  # 重复发送
    OTHER = "other"  # 其他


class Withdrawal(ContractModel):
    """Withdrawal (撤回), payload schema 1.0."""

    reason: WithdrawalReason = Field(
        description="撤回原因 — reason: sent_in_error 误发, wrong_receiver 接收地有误, wrong_person 人员信息有误, "
                    "duplicate 重复发送, other 其他"
    )
    remarks: Remarks | None = Field(default=None, description="备注 — remarks (no personal data)")
