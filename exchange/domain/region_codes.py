"""Region codes as areas: a province, prefecture or county code names every county under it.

Users write 6-digit GB/T 2260 codes with trailing zeros ("320000" Jiangsu,
"320300" Xuzhou, "320321" Feng County); calendars and agreements also accept
the short prefixes ("32", "3203"). Internally an area is its prefix: 2 digits
for a province, 4 for a prefecture, 6 for a county, "" for the whole country.
Only the syntax is checked here; whether a code exists is the contracts' job.
"""

from __future__ import annotations

import re

#: Names the whole country (the national calendar's scope).
NATIONAL = ""

_NATIONAL_ALIASES = frozenset({"", "CN", "cn", "000000"})
_CODE_RE = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}")

#: Level of an area prefix: the more digits, the more specific.
LEVEL_NAMES = {0: "national", 1: "province", 2: "prefecture", 3: "county"}


def area_prefix(code: str) -> str:
    """Prefix of a region code: "540000" -> "54", "540100" -> "5401", "542526" -> "542526".

    "CN", "" and "000000" mean the whole country and give "". Raises ValueError
    for anything that is not a 2-, 4- or 6-digit code.
    """
    if not isinstance(code, str):
        raise ValueError(f"region code must be a string, not {type(code).__name__}")
    text = code.strip()
    if text in _NATIONAL_ALIASES:
        return NATIONAL
    if not _CODE_RE.fullmatch(text) or text[:2] == "00":
        raise ValueError(f"not a region code: {code!r} (2, 4 or 6 digits, e.g. '320000', '3203', '320321')")
    while len(text) > 2 and text.endswith("00"):
        text = text[:-2]
    return text


def area_level(prefix: str) -> int:
    """0 national, 1 province, 2 prefecture, 3 county."""
    return len(prefix) // 2


def in_area(code: str, prefix: str) -> bool:
    """True if the region `code` (any form) lies inside the area `prefix`."""
    return area_prefix(code).startswith(prefix)


def areas_of(code: str) -> tuple[str, ...]:
    """Areas containing `code`, from the country down to the code itself: ("", "54", "5425", "542526")."""
    prefix = area_prefix(code)
    return tuple(prefix[:n] for n in range(0, len(prefix) + 1, 2))


def display_code(prefix: str) -> str:
    """The 6-digit form users write: "54" -> "540000"; "" -> "CN"."""
    return "CN" if prefix == NATIONAL else prefix.ljust(6, "0")


def finer(prefix: str) -> str:
    """The level one step below an area, as monitors group by it: the country by province, a province by
    prefecture, a prefecture (and a county) by county."""
    return {0: "province", 1: "prefecture"}.get(area_level(prefix), "county")


def narrowed(areas: frozenset[str] | None, prefix: str) -> frozenset[str]:
    """The parts of `areas` (area prefixes; None: the whole country) that lie inside the area `prefix`: what a
    monitor who sees `areas` sees when it looks at `prefix` only (nothing outside what it saw before)."""
    if areas is None:
        return frozenset({prefix})
    return frozenset({prefix} if any(prefix.startswith(a) for a in areas) else
                     {a for a in areas if a.startswith(prefix)})
