"""The person every record is about, and codes several payloads share."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from contracts.base import Address, ContractModel, PersonName, PhoneNumber
from contracts.dates import EventDate
from contracts.errors import custom_error
from contracts.ethnicity import Ethnicity
from contracts.identity import ResidentIdNumber, Sex, id_birth_date, id_sex
from contracts.regions import RegionCode


class ContraceptionMethod(StrEnum):
    """避孕节育措施 — contraception method in place (seed 002: 落实一项可靠的避孕节育措施)."""

    NONE = "none"  # 未采取措施
    IUD = "iud"  # 上环 (宫内节育器)
    STERILIZATION_FEMALE = "sterilization_female"  # 女扎
    STERILIZATION_MALE = "sterilization_male"  # 男扎
    IMPLANT = "implant"  # 皮下埋植
    PILL = "pill"  # 口服避孕药
    CONDOM = "condom"  # 避孕套
    OTHER = "other"  # 其他


class PersonRef(ContractModel):
    """A second person named in a record (e.g. the spouse): name and ID number only."""

    name: PersonName = Field(description="姓名 — name as on the resident identity card")
    id_number: ResidentIdNumber = Field(
        description="公民身份号码 — 18-character resident identity number (GB 11643), check character 0-9 or X"
    )


class Person(ContractModel):
    """The person a record is about, as the registration county knows them."""

    name: PersonName = Field(description="姓名 — name as on the resident identity card")
    id_number: ResidentIdNumber = Field(
        description="公民身份号码 — 18-character resident identity number (GB 11643), check character 0-9 or X"
    )
    sex: Sex = Field(description="性别 — sex; must agree with the 17th digit of the ID number (odd = male)")
    birth_date: EventDate = Field(description="出生日期 — birth date; must equal the date inside the ID number")
    ethnicity: Ethnicity | None = Field(default=None, description="民族 — ethnic group (GB/T 3304)")
    registration_region: RegionCode = Field(
        description="户籍地 — region code (GB/T 2260) of the household registration place"
    )
    registration_address: Address | None = Field(default=None, description="户籍地址 — household registration address")
    phone: PhoneNumber | None = Field(default=None, description="联系电话 — contact phone (mobile or landline)")

    @field_validator("sex")
    @classmethod
    def _sex_agrees_with_id(cls, value: Sex, info: ValidationInfo) -> Sex:
        number = info.data.get("id_number")
        if number is not None and id_sex(number) != value:
            raise custom_error("id_sex_mismatch")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date_agrees_with_id(cls, value: date, info: ValidationInfo) -> date:
        number = info.data.get("id_number")
        if number is not None and id_birth_date(number) != value:
            raise custom_error("id_birth_date_mismatch")
        return value


def require_sex(person: Person | None, sex: Sex) -> None:
    """A role (mother, pregnancy check subject, father) that fixes the sex."""
    if person is not None and person.sex != sex:
        raise custom_error("sex_role_mismatch")


def not_before_birth(value: date | None, person: Person | None) -> None:
    """Something that happened to a person cannot predate their birth."""
    if value is not None and person is not None and value < person.birth_date:
        raise custom_error("date_before_birth")
