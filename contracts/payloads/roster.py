"""清查名单 / 清查反馈 — the monthly roster check (定期清查), v1.0.

Each month, once the cut-off day has passed, a registration county's node sends each residence county the roster of
persons it believes live there (``roster``: its outflow registrations to that county not cancelled by a return
cancellation nor withdrawn). The residence county's node answers it at once (``roster_answer``: the envelope's
``inreplyto`` names the roster) with one finding per entry, from what it holds of each registration. Neither opens a
feedback obligation. The roster names persons: it is sealed like every payload; the answer names only registrations.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from contracts.base import ContractModel, MessageId
from contracts.errors import custom_error
from contracts.payloads.common import Person
from contracts.regions import CountyCode

#: A calendar month, YYYY-MM.
Month = Annotated[str, StringConstraints(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")]
#: The most entries one roster carries: a record on the topic stays well under Kafka's 1 MB (sealed, a person with
#: a long address is under 1 kB); a county with more away in one county sends its roster in parts.
MAX_ENTRIES = 500


class RosterEntry(ContractModel):
    """One person the registration county believes lives in the residence county."""

    registration_id: MessageId = Field(description="外出登记消息编号 — id of the outflow registration it sent")
    person: Person = Field(description="流出人员 — the person, as the registration names them")


class Roster(ContractModel):
    """Roster (清查名单), payload schema 1.0."""

    month: Month = Field(description="清查月份 — the month checked, YYYY-MM")
    part: int = Field(1, ge=1, le=1000, description="第几部分 — which part of the month's roster this is")
    parts: int = Field(1, ge=1, le=1000, description="共几部分 — how many parts the month's roster has")
    entries: list[RosterEntry] = Field(min_length=1, max_length=MAX_ENTRIES,
                                       description="名单 — the persons believed to live in the residence county")


    @field_validator("parts")
    @classmethod
    def _part_of_parts(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("part", 1):
            raise custom_error("roster_part_beyond_parts")
        return value


class RosterFinding(StrEnum):
    """清查结果 — what the residence county knows of a person on the roster."""

    STILL_HERE = "still_here"  # 仍在本地
    LEFT = "left"  # 已离开
    NEVER_ARRIVED = "never_arrived"  # 未到达
    UNKNOWN = "unknown"  # 情况不明


class RosterAnswerEntry(ContractModel):
    """The residence county's finding about one entry of the roster."""

    registration_id: MessageId = Field(description="外出登记消息编号 — the entry's outflow registration")
    finding: RosterFinding = Field(description="清查结果 — still_here 仍在本地, left 已离开, never_arrived 未到达, "
                                               "unknown 情况不明")
    new_region: CountyCode | None = Field(
        default=None, validate_default=True,
        description="去向 — county code (GB/T 2260) the person left for, if known; only when left")

    @field_validator("new_region")
    @classmethod
    def _only_when_left(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("finding") not in (None, RosterFinding.LEFT):
            raise custom_error("roster_new_region_forbidden")
        return value


class RosterAnswer(ContractModel):
    """Roster answer (清查反馈), payload schema 1.0."""

    month: Month = Field(description="清查月份 — the month of the roster answered, YYYY-MM")
    entries: list[RosterAnswerEntry] = Field(min_length=1, max_length=MAX_ENTRIES,
                                             description="清查结果 — one finding per entry of the roster")
