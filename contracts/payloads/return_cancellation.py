"""返回注销 — return cancellation, v1.0: the registration county tells the
former residence county that the person's stay there is over, so it can
close the case (seed 002: 流出人口外出登记、返回注销制度).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import ContractModel, MessageId, Remarks
from contracts.dates import EventDate
from contracts.payloads.common import Person, not_before_birth
from contracts.regions import CountyCode


class ReturnReason(StrEnum):
    """注销原因 — why the case at the residence county is closed."""

    RETURNED_HOME = "returned_home"  # 返回户籍地
    MOVED_ON = "moved_on"  # 再流动到其他地区
    DECEASED = "deceased"  # 死亡
    OTHER = "other"  # 其他


class ReturnCancellation(ContractModel):
    """Return cancellation (返回注销), payload schema 1.0."""

    person: Person = Field(description="注销人员 — the person whose outflow is cancelled")
    return_date: EventDate = Field(description="返回（注销）日期 — date of return, or of the event that ends the stay")
    former_residence_region: CountyCode = Field(
        description="原流入地 — county code (GB/T 2260) of the former residence"
    )
    reason: ReturnReason = Field(description="注销原因 — reason for the cancellation")
    outflow_message_id: MessageId | None = Field(
        default=None, description="原外出登记消息编号 — id of the outflow registration message this cancels"
    )
    remarks: Remarks | None = Field(default=None, description="备注 — remarks")

    @field_validator("return_date")
    @classmethod
    def _return_after_birth(cls, value: date, info: ValidationInfo) -> date:
        not_before_birth(value, info.data.get("person"))
        return value
