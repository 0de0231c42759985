"""出生 — birth, v1.0: the residence county notifies the registration county of
a birth and of the family-planning review done at delivery
(seed 000: 产妇分娩时的计划生育情况审核通报制度).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import ContractModel, Count, DocumentNumber, PersonName, Remarks, ShortText, count_between
from contracts.dates import EventDate
from contracts.errors import custom_error
from contracts.identity import Sex
from contracts.payloads.common import Person, require_sex
from contracts.regions import CountyCode


class PolicyReviewResult(StrEnum):
    """计划生育情况审核结果 — outcome of the family-planning review at delivery."""

    COMPLIANT = "compliant"  # 政策内
    NON_COMPLIANT = "non_compliant"  # 政策外
    PENDING_REVIEW = "pending_review"  # 待审核


class Child(ContractModel):
    """The newborn (one message per child)."""

    sex: Sex = Field(description="婴儿性别 — sex of the child")
    name: PersonName | None = Field(default=None, description="婴儿姓名 — name, if already given")
    birth_date: EventDate = Field(description="出生日期 — date of birth")
    birth_weight_grams: count_between(300, 7000) | None = Field(
        default=None, description="出生体重（克） — birth weight in grams"
    )
    birth_order: Count = Field(ge=1, le=15, description="孩次 — birth order of this child for the mother")


class Birth(ContractModel):
    """Birth (出生), payload schema 1.0."""

    mother: Person = Field(description="母亲 — the mother")
    father: Person | None = Field(default=None, description="父亲 — the father, if known")
    child: Child = Field(description="婴儿 — the child")
    birth_region: CountyCode = Field(description="出生地 — county code (GB/T 2260) where the child was born")
    institution: ShortText = Field(
        description="接生机构 — name of the delivery institution (for a birth elsewhere, the place, e.g. 家中)"
    )
    birth_certificate_number: DocumentNumber | None = Field(
        default=None, description="出生医学证明编号 — number of the birth medical certificate"
    )
    policy_review: PolicyReviewResult = Field(
        description="计划生育情况审核 — result of the family-planning review at delivery"
    )
    remarks: Remarks | None = Field(default=None, description="备注 — remarks")

    @field_validator("mother")
    @classmethod
    def _mother_is_a_woman(cls, value: Person) -> Person:
        require_sex(value, Sex.FEMALE)
        return value

    @field_validator("father")
    @classmethod
    def _father_is_a_man(cls, value: Person | None, info: ValidationInfo) -> Person | None:
        require_sex(value, Sex.MALE)
        mother = info.data.get("mother")
        if value is not None and mother is not None and value.id_number == mother.id_number:
            raise custom_error("same_person")
        return value

    @field_validator("child")
    @classmethod
    def _child_after_parents(cls, value: Child, info: ValidationInfo) -> Child:
        parents: list[Person | None] = [info.data.get("mother"), info.data.get("father")]
        born: date = value.birth_date
        if any(p is not None and born <= p.birth_date for p in parents):
            raise custom_error("child_birth_before_parent")
        return value
