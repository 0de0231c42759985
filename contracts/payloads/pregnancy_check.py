"""孕检 — pregnancy check, v1.0: the residence county reports a pregnancy /
reproductive-health check (查环查孕) back to the registration county, which is
measured on the return rate of these certificates (seed 003: 孕检证明寄回率).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import ContractModel, DocumentNumber, Remarks, ShortText, count_between
from contracts.dates import EventDate
from contracts.errors import custom_error
from contracts.identity import Sex
from contracts.payloads.common import ContraceptionMethod, Person, not_before_birth, require_sex
from contracts.regions import CountyCode


class PregnancyCheckResult(StrEnum):
    """孕检结果 — result of the check."""

    NOT_PREGNANT = "not_pregnant"  # 未孕
    PREGNANT = "pregnant"  # 已孕
    UNCERTAIN = "uncertain"  # 待复查


class PregnancyCheck(ContractModel):
    """Pregnancy check (孕检), payload schema 1.0."""

    person: Person = Field(description="受检人 — the woman checked")
    check_date: EventDate = Field(description="孕检日期 — date of the check")
    institution: ShortText = Field(description="孕检单位 — name of the institution that did the check")
    check_region: CountyCode = Field(description="孕检地 — county code (GB/T 2260) where the check was done")
    result: PregnancyCheckResult = Field(description="孕检结果 — result of the check")
    gestational_weeks: count_between(1, 45) | None = Field(
        default=None,
        validate_default=True,
        description="孕周 — gestational age in weeks; required if and only if pregnant",
    )
    contraception_method: ContraceptionMethod = Field(description="避孕节育措施 — contraception method in place")
    certificate_number: DocumentNumber | None = Field(
        default=None, description="孕检证明编号 — number of the pregnancy check certificate"
    )
    next_check_due: date | None = Field(
        default=None,
        description="下次孕检日期 — date the next check is due (may be in the future)",
    )
    remarks: Remarks | None = Field(default=None, description="备注 — remarks")

    @field_validator("person")
    @classmethod
    def _subject_is_a_woman(cls, value: Person) -> Person:
        require_sex(value, Sex.FEMALE)
        return value

    @field_validator("check_date")
    @classmethod
    def _check_after_birth(cls, value: date, info: ValidationInfo) -> date:
        not_before_birth(value, info.data.get("person"))
        return value

    @field_validator("gestational_weeks")
    @classmethod
    def _weeks_iff_pregnant(cls, value: int | None, info: ValidationInfo) -> int | None:
        result = info.data.get("result")
        if result is PregnancyCheckResult.PREGNANT and value is None:
            raise custom_error("gestational_weeks_required")
        if result is not None and result is not PregnancyCheckResult.PREGNANT and value is not None:
            raise custom_error("gestational_weeks_forbidden")
        return value

    @field_validator("next_check_due")
    @classmethod
    def _next_after_this(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_date = info.data.get("check_date")
        if value is not None and check_date is not None and value < check_date:
            raise custom_error("next_check_before_check")
        return value
