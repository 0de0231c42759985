"""外出登记 — outflow registration, v1.0: the registration county tells the
expected residence county that a person has left for it (seed 002: 流出人口外出登记、返回注销制度).

It carries what only the registration side knows: identity, marriage and
childbearing status, the 《流动人口婚育证明》, the family-planning contract.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import Address, ContractModel, Count, DocumentNumber, Remarks
from contracts.dates import EventDate
from contracts.errors import custom_error
from contracts.payloads.common import ContraceptionMethod, Person, PersonRef, not_before_birth
from contracts.regions import CountyCode


class MaritalStatus(StrEnum):
    """婚姻状况 — marital status."""

    UNMARRIED = "unmarried"  # 未婚
    FIRST_MARRIAGE = "first_marriage"  # 初婚
    REMARRIED = "remarried"  # 再婚
    DIVORCED = "divorced"  # 离婚
    WIDOWED = "widowed"  # 丧偶


#: Statuses in which a current spouse can be named.
MARRIED = frozenset({MaritalStatus.FIRST_MARRIAGE, MaritalStatus.REMARRIED})


class OutflowReason(StrEnum):
    """外出原因 — reason for leaving."""

    WORK = "work"  # 务工
    BUSINESS = "business"  # 经商
    STUDY = "study"  # 学习
    FAMILY = "family"  # 随迁家属 / 投亲靠友
    OTHER = "other"  # 其他


class OutflowRegistration(ContractModel):
    """Outflow registration (外出登记), payload schema 1.0."""

    person: Person = Field(description="流出人员 — the person who left")
    marital_status: MaritalStatus = Field(description="婚姻状况 — marital status")
    children_count: Count = Field(ge=0, le=15, description="现有子女数 — number of living children")
    spouse: PersonRef | None = Field(
        default=None, description="配偶 — current spouse; only when married (first marriage or remarried)"
    )
    certificate_number: DocumentNumber | None = Field(
        default=None,
        description="婚育证明编号 — number of the 《流动人口婚育证明》 (marriage and childbearing certificate); "
        "absent if none was issued",
    )
    certificate_issue_date: EventDate | None = Field(
        default=None,
        validate_default=True,
        description="婚育证明发证日期 — issue date of the certificate; given together with its number",
    )
    outflow_date: EventDate = Field(description="外出日期 — date the person left")
    destination_region: CountyCode = Field(description="流入地 — county code (GB/T 2260) of the expected residence")
    destination_address: Address | None = Field(
        default=None, description="流入地通信地址 — mailing address at the destination"
    )
    reason: OutflowReason = Field(description="外出原因 — reason for leaving")
    contraception_method: ContraceptionMethod = Field(description="避孕节育措施 — contraception method in place")
    contract_signed: bool = Field(strict=True, 
        description="是否签订计划生育合同 — whether the family-planning management contract was signed"
    )
    remarks: Remarks | None = Field(default=None, description="备注 — remarks")

    @field_validator("spouse")
    @classmethod
    def _spouse_only_when_married(cls, value: PersonRef | None, info: ValidationInfo) -> PersonRef | None:
        status = info.data.get("marital_status")
        if value is not None and status is not None and status not in MARRIED:
            raise custom_error("spouse_not_allowed")
        person = info.data.get("person")
        if value is not None and person is not None and value.id_number == person.id_number:
            raise custom_error("same_person")
        return value

    @field_validator("certificate_issue_date", mode="after")
    @classmethod
    def _certificate_complete(cls, value: date | None, info: ValidationInfo) -> date | None:
        if "certificate_number" in info.data and (value is None) != (info.data["certificate_number"] is None):
            raise custom_error("certificate_incomplete")
        not_before_birth(value, info.data.get("person"))
        return value

    @field_validator("outflow_date")
    @classmethod
    def _outflow_after_birth(cls, value: date, info: ValidationInfo) -> date:
        not_before_birth(value, info.data.get("person"))
        return value
