"""The 18-character resident identity number (公民身份号码, GB 11643).

Layout: 6-digit region code at issue, 8-digit birth date, 3-digit order code
(odd for men, even for women), ISO 7064 MOD 11-2 check character (0-9 or X).
Validation reuses ``stdnum.cn.ric`` except its birth-place rule: stdnum wants
the region code to have existed in the birth year, but numbers are assigned
when first registered (often years after birth, e.g. the first cards of 1985),
so here any code that ever existed is accepted.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from stdnum.cn import ric

from contracts.clock import today_in_china
from contracts.errors import custom_error
from contracts.regions import is_region

_ID_RE = re.compile(r"[0-9]{17}[0-9X]")


class Sex(StrEnum):
    """性别 — sex as recorded on the identity card."""

    MALE = "male"
    FEMALE = "female"


def id_birth_date(number: str) -> date:
    """Birth date encoded in an ID number already in compact form (raises ValueError if it is no date).

    Read here rather than with ``ric.get_birth_date``, which first re-cleans the number character by
    character: on every accepted message that cleaning was a third of the node's validation time."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_sex(number: str) -> Sex:
    """Sex encoded in the 17th character of a (valid) ID number: odd = male."""
    return Sex.MALE if int(number[16]) % 2 else Sex.FEMALE


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")


def normalize_id_number(value: str) -> str:
    """Validate an ID number and return it in canonical form (upper-case X).

    Raises pydantic custom errors with codes only; the number is never echoed.
    """
    # Numbers posted in compact form (nearly all) skip stdnum's character-by-character cleaning.
    number = value if _ID_RE.fullmatch(value) else ric.compact(value)
    if not _ID_RE.fullmatch(number):
        raise custom_error("invalid_id_format")
    if number[-1] != check_character(number[:17]):
        raise custom_error("invalid_id_checksum")
    try:
        born = id_birth_date(number)
    except ValueError:
        raise custom_error("invalid_id_birth_date") from None
    if born.year < 1900 or born > today_in_china():
        raise custom_error("invalid_id_birth_date")
    if not is_region(number[:6]):
        raise custom_error("unknown_id_region")
    return number


#: A valid 18-character resident ID number, normalised to an upper-case X.
ResidentIdNumber = Annotated[
    str,
    AfterValidator(normalize_id_number),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{17}[0-9Xx]$", "minLength": 18, "maxLength": 18}),
]
