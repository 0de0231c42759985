"""Administrative division codes (GB/T 2260) with their history.

The table is python-stdnum's bundled ``cn/loc.dat`` (read through
``stdnum.numdb``, as ``stdnum.cn.ric`` does), so codes are never typed in by
hand. Counties merge and get renumbered, and a record keeps the code that was
valid when it was made, so any code that exists now or existed before is real.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from stdnum import numdb

from contracts.errors import custom_error

_CODE_RE = re.compile(r"[0-9]{6}")

#: Statistical placeholders ("districts under the city") that are no real county-level unit.
_PLACEHOLDER_NAMES = frozenset({"市辖区", "市区"})


@dataclass(frozen=True, slots=True)
class RegionPeriod:
    """One name a code carried, from ``start`` to ``end`` (years, inclusive; None = open)."""

    name: str
    start: int | None
    end: int | None


def _parse_period(text: str) -> RegionPeriod:
    if not text.startswith("["):
        return RegionPeriod(text, None, None)
    span, name = text[1:].split("]", 1)
    start, end = span.split("-", 1)
    return RegionPeriod(name, int(start) if start else None, int(end) if end else None)


@lru_cache(maxsize=8192)
def region_periods(code: str) -> tuple[RegionPeriod, ...]:
    """All names a 6-digit code has had, oldest first; empty if the code never existed."""
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        return ()
    parts = numdb.get("cn/loc").info(code)
    if len(parts) != 2 or len(parts[1][0]) != 4:
        return ()
    county = parts[1][1].get("county")
    if not county:
        return ()
    return tuple(_parse_period(p) for p in county.split(","))


def is_region(code: str) -> bool:
    """True for any real code, province, prefecture or county level, current or historical."""
    return bool(region_periods(code))


@lru_cache(maxsize=8192)  # on every message's path (sender, receiver, regions in the payload)
def is_county(code: str) -> bool:
    """True for a real county-level code: last two digits not 00, and not a placeholder."""
    periods = region_periods(code)
    return bool(periods) and code[4:] != "00" and any(p.name not in _PLACEHOLDER_NAMES for p in periods)


def region_name(code: str, *, year: int | None = None) -> str | None:
    """Chinese name of a code for display: the latest name, or the one used in ``year``."""
    periods = region_periods(code)
    if not periods:
        return None
    if year is not None:
        for p in reversed(periods):
            if (p.start is None or p.start <= year) and (p.end is None or year <= p.end):
                return p.name
    return periods[-1].name


def _check_region(value: str) -> str:
    if not is_region(value):
        raise custom_error("unknown_region_code")
    return value


def _check_county(value: str) -> str:
    if not is_region(value):
        raise custom_error("unknown_region_code")
    if not is_county(value):
        raise custom_error("not_a_county_code")
    return value


#: Any real GB/T 2260 code: province, prefecture or county level, current or historical.
RegionCode = Annotated[
    str,
    AfterValidator(_check_region),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{6}$", "format": "gbt2260-region"}),
]

#: A real county-level GB/T 2260 code (current or historical): the unit that exchanges records.
CountyCode = Annotated[
    str,
    AfterValidator(_check_county),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{6}$", "format": "gbt2260-county"}),
]
