"""协查请求 / 协查进展 — verification request and its steps, v1.0.

A county asks another to verify a person's situation (``verification_request``: a record of its own, naming the
person as records do, what to verify and how urgent it is; the urgency sets the receiver's deadline). The receiver
reports each step it takes (``verification_step``: the envelope's ``inreplyto`` names the request): matched against
its local file (配对), verified (核实), answered (协查反馈, with the findings), strictly in that order.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from contracts.base import ContractModel, DocumentNumber, Remarks
from contracts.errors import custom_error
from contracts.payloads.common import Person


class VerificationSubject(StrEnum):
    """协查事项 — what is to be verified."""

    RESIDENCE = "residence"  # 居住情况
    MARITAL_CHILDBEARING = "marital_childbearing"  # 婚育情况
    PREGNANCY = "pregnancy"  # 孕情
    BIRTH = "birth"  # 出生
    CERTIFICATE = "certificate"  # 婚育证明


class Urgency(StrEnum):
    """紧急程度 — how urgent the request is; it sets the receiver's deadline (calendar days unless an agreement
    says otherwise)."""

    URGENT = "urgent"  # 紧急: 15 days (e.g. a current pregnancy)
    EXPEDITED = "expedited"  # 急: 30 days
    CERTIFICATE_CHECK = "certificate_check"  # 证明核验: 7 days


class VerificationRequest(ContractModel):
    """Verification request (协查请求), payload schema 1.0."""

    person: Person = Field(description="协查对象 — the person to verify")
    subjects: list[VerificationSubject] = Field(
        min_length=1, max_length=len(VerificationSubject),
        description="协查事项 — what to verify: residence 居住情况, marital_childbearing 婚育情况, pregnancy 孕情, "
                    "birth 出生, certificate 婚育证明",
    )
    certificate_number: DocumentNumber | None = Field(
        default=None, description="婚育证明编号 — number of the certificate; required when certificate is asked")
    urgency: Urgency = Field(description="紧急程度 — urgent 紧急, expedited 急, certificate_check 证明核验")
    question: Remarks = Field(description="协查内容 — what the requester asks (free text)")

    @model_validator(mode="after")
    def _certificate_named(self) -> VerificationRequest:
        if len(set(self.subjects)) != len(self.subjects):
            raise custom_error("duplicate_subject")
        if VerificationSubject.CERTIFICATE in self.subjects and self.certificate_number is None:
            raise custom_error("certificate_number_required")
        return self


class VerificationMethod(StrEnum):
    """核实方式 — how the receiver verified."""

    VISIT = "visit"  # 入户
    PHONE = "phone"  # 电话
    RECORDS = "records"  # 档案


class VerificationResult(StrEnum):
    """协查结论 — what the verification found."""

    CONFIRMED = "confirmed"  # 属实
    NOT_CONFIRMED = "not_confirmed"  # 不属实
    NOT_FOUND = "not_found"  # 查无此人
    PARTLY_CONFIRMED = "partly_confirmed"  # 部分属实


class VerificationStep(ContractModel):
    """Verification step (协查进展), payload schema 1.0: one step the receiver took on a request."""

    step: Literal["matched", "verified", "answered"] = Field(
        description="步骤 — matched 配对, verified 核实, answered 协查反馈")
    found: bool | None = Field(default=None, description="配对结果 — matched: whether the local file holds the person")
    method: VerificationMethod | None = Field(
        default=None, description="核实方式 — verified: visit 入户, phone 电话, records 档案")
    result: VerificationResult | None = Field(
        default=None, description="协查结论 — answered: confirmed 属实, not_confirmed 不属实, not_found 查无此人, "
                                  "partly_confirmed 部分属实")
    findings: Remarks | None = Field(default=None, description="协查情况 — answered: the findings (free text)")

    @model_validator(mode="after")
    def _fields_of_the_step(self) -> VerificationStep:
        needed = {"matched": ("found",), "verified": ("method",), "answered": ("result", "findings")}[self.step]
        if any((getattr(self, name) is not None) != (name in needed)
               for name in ("found", "method", "result", "findings")):
            raise custom_error("step_fields")
        return self
