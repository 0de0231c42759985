"""Working-day calendars: which days count toward a feedback deadline, and for which county.

National days come from the ``holidays`` package (``country_holidays("CN")``):
weekends are off except the make-up working days of the State Council's yearly
schedule (调休, the package's ``weekend_workdays``), and the holidays it lists
are off even on weekdays. On top of that, a province ("54"), prefecture
("5401") or county ("540102") can add its own days off (Tibetan New Year) or
working days; for a date listed at several levels the most specific entry wins,
and any override beats the package.

Published years. The package encodes the State Council schedule of year Y as
``ChinaStaticHolidays.special_public_holidays[Y]`` (holidays 0.109: 2001-2026).
For any other year it only *estimates* (statutory days, weekend holidays
shifted to Monday, no make-up working days), so a computation that looks at a
date of such a year is **provisional**. A year's notice is issued in the
autumn before and has repeatedly moved days of late December of the year
before (2002's notice made 29-30 Dec 2001 working days; 2008's made 29 Dec 2007
a working day and 31 Dec 2007 a day off), so dates from 25 December on are
provisional too until the next year is published. A year can be published
later without a package upgrade: add its schedule as national overrides
(region "CN") and declare it with ``CalendarBook.publish_year`` (or
``"published_years"`` in an overrides file).

Calendar ids. Each ``RegionCalendar`` has an id such as ``"CN+54@3"``: the
areas whose overrides it includes, and the sum of their revision counters
(every change to an area's overrides bumps its counter), so an obligation
records exactly which calendar data gave its deadline.

Speed. Each calendar caches one flag per day and a running count per year, so
``is_working_day`` is a lookup and ``working_days_between`` two lookups per year.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import holidays

from exchange.domain.region_codes import NATIONAL, area_prefix, areas_of, display_code

ONE_DAY = timedelta(days=1)

#: From this day of December on, a date also depends on the next year's notice.
NEXT_NOTICE_REACHES_BACK_TO = (12, 25)

#: Override files shipped with the package; each says where its dates come from.
DATA_DIR = Path(__file__).parent / "data"
SHIPPED_OVERRIDE_FILES = (DATA_DIR / "tibet_overrides.json",)


class DayKind(StrEnum):
    HOLIDAY = "holiday"  # a day off, even on a weekday
    WORKING = "working"  # a working day, even on a weekend (a make-up day, 调休上班)


@dataclass(frozen=True, slots=True)
class Override:
    """One day that an area (or the whole country, region "") treats differently."""

    region: str  # area prefix: "" national, "54" province, "5401" prefecture, "540102" county
    day: date
    kind: DayKind
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", area_prefix(self.region))
        object.__setattr__(self, "kind", DayKind(self.kind))
        if not isinstance(self.day, date):
            raise ValueError(f"override day must be a date, not {self.day!r}")

    def to_dict(self) -> dict[str, str]:
        return {"region": display_code(self.region), "date": self.day.isoformat(), "kind": self.kind.value,
                "name": self.name, "source": self.source}


@dataclass(frozen=True, slots=True)
class OverrideSet:
    """What an overrides file holds: day entries, and national years it completes."""

    overrides: tuple[Override, ...]
    published_years: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"published_years": sorted(self.published_years),
                "overrides": [o.to_dict() for o in self.overrides]}


class DayResult(NamedTuple):
    day: date
    provisional: bool


# --- the national calendar --------------------------------------------------------------


@lru_cache(maxsize=1)
def national_published_years() -> frozenset[int]:
    """Years for which the installed ``holidays`` has the State Council's schedule (调休 data)."""
    from holidays.countries.china import ChinaStaticHolidays

    return frozenset(int(y) for y in getattr(ChinaStaticHolidays, "special_public_holidays", {}))


NATIONAL_SOURCE = f"holidays {holidays.__version__} country_holidays('CN')"


@lru_cache(maxsize=256)
def _national_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, weekend working days) of one year, as the package gives them.

    The next year is populated too: its notice can make days of this December
    working days (the package files them under the next year).
    """
    book = holidays.country_holidays("CN", years=(year, year + 1))
    off = frozenset(d for d in book if d.year == year)
    work = frozenset(d for d in book.weekend_workdays if d.year == year)
    return off, work


class _Year:
    __slots__ = ("start", "flags", "running")

    def __init__(self, year: int, overrides: Mapping[date, bool]) -> None:
        off, work = _national_year(year)
        first = date(year, 1, 1)
        self.start = first.toordinal()
        size = date(year + 1, 1, 1).toordinal() - self.start
        flags = bytearray(size)
        for i in range(size):
            d = first + timedelta(days=i)
            flags[i] = (d in work) if d.weekday() >= 5 else (d not in off)
        for d, working in overrides.items():
            flags[d.toordinal() - self.start] = working
        self.flags = bytes(flags)
        self.running = tuple(itertools.accumulate(flags))  # working days from 1 Jan through day i

    @property
    def total(self) -> int:
        return self.running[-1]


class RegionCalendar:
    """The working days of one area: national days plus the overrides of every area containing it.

    Immutable once made: a later change to the book makes a new calendar with a new id.
    """

    __slots__ = ("id", "region", "published_years", "source", "_overrides", "_years")

    def __init__(
        self,
        *,
        id: str = "CN@0",
        region: str = NATIONAL,
        overrides: Mapping[date, bool] | None = None,
        published_years: Iterable[int] | None = None,
    ) -> None:
        self.id = id
        self.region = region
        self.published_years = frozenset(national_published_years() if published_years is None else published_years)
        self.source = NATIONAL_SOURCE
        by_year: dict[int, dict[date, bool]] = {}
        for d, working in (overrides or {}).items():
            by_year.setdefault(d.year, {})[d] = bool(working)
        self._overrides = by_year
        self._years: dict[int, _Year] = {}

    def __repr__(self) -> str:
        return f"RegionCalendar({self.id!r})"

    def _year(self, year: int) -> _Year:
        y = self._years.get(year)
        if y is None:
            y = self._years[year] = _Year(year, self._overrides.get(year, {}))
        return y

    def is_working_day(self, day: date) -> bool:
        y = self._year(day.year)
        return bool(y.flags[day.toordinal() - y.start])

    def is_settled(self, day: date) -> bool:
        """False if the day's status may still change: its year, or for late December the next, is unpublished."""
        if day.year not in self.published_years:
            return False
        if (day.month, day.day) >= NEXT_NOTICE_REACHES_BACK_TO and day.year + 1 not in self.published_years:
            return False
        return True

    def nth_working_day_after(self, start: date, n: int) -> DayResult:
        """The n-th working day after `start` (start itself never counts), and whether it is provisional.

        Provisional when any day looked at, from the day after `start` to the
        result, is not settled.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        day, count, provisional = start, 0, False
        while count < n:
            day += ONE_DAY
            if self.is_working_day(day):
                count += 1
            if not provisional and not self.is_settled(day):
                provisional = True
        return DayResult(day, provisional)

    def working_days_between(self, start_exclusive: date, end_inclusive: date) -> int:
        """Working days d with start_exclusive < d <= end_inclusive; 0 when end <= start."""
        if end_inclusive <= start_exclusive:
            return 0
        a, b = self._year(start_exclusive.year), self._year(end_inclusive.year)
        through_a = a.running[start_exclusive.toordinal() - a.start]
        through_b = b.running[end_inclusive.toordinal() - b.start]
        if start_exclusive.year == end_inclusive.year:
            return through_b - through_a
        middle = sum(self._year(y).total for y in range(start_exclusive.year + 1, end_inclusive.year))
        return a.total - through_a + middle + through_b

    def provisional_between(self, start_exclusive: date, end_inclusive: date) -> bool:
        """True if any day d with start_exclusive < d <= end_inclusive is not settled."""
        if end_inclusive <= start_exclusive:
            return False
        first = start_exclusive + ONE_DAY
        for year in range(first.year, end_inclusive.year + 1):
            if year not in self.published_years:
                return True
            last = min(end_inclusive, date(year, 12, 31))
            if (last.month, last.day) >= NEXT_NOTICE_REACHES_BACK_TO and year + 1 not in self.published_years:
                return True
        return False

    def working_days_after(self, start: date) -> Iterator[date]:
        """Working days after `start`, in order, without end."""
        day = start
        while True:
            day += ONE_DAY
            if self.is_working_day(day):
                yield day


# --- per-region overrides ---------------------------------------------------------------


class CalendarBook:
    """All override entries a node knows, and the calendar of any county built from them.

    Adding or removing entries never changes a calendar already handed out; the
    next ``calendar_for`` gives a new one with a new id.
    """

    def __init__(self, overrides: Iterable[Override] | OverrideSet = (), *, published_years: Iterable[int] = ()) -> None:
        self._entries: dict[str, dict[date, Override]] = {}
        self._revisions: dict[str, int] = {}
        self._published_extra: set[int] = set()
        self._cache: dict[str, RegionCalendar] = {}
        for year in published_years:
            self.publish_year(year)
        self.add_overrides(overrides)

    @classmethod
    def default(cls) -> CalendarBook:
        """A book with the override files shipped in ``exchange/domain/data``."""
        book = cls()
        for path in SHIPPED_OVERRIDE_FILES:
            book.load(path)
        return book

    @property
    def published_years(self) -> frozenset[int]:
        return national_published_years() | self._published_extra

    def _bump(self, area: str) -> None:
        self._revisions[area] = self._revisions.get(area, 0) + 1
        self._cache.clear()

    def _put(self, entry: Override) -> bool:
        days = self._entries.setdefault(entry.region, {})
        if days.get(entry.day) == entry:
            return False
        days[entry.day] = entry
        return True

    def add_override(self, region: str, day: date, kind: DayKind | str, name: str = "", source: str = "") -> Override:
        """Add (or replace) the entry for one day of one area; re-adding the same entry changes nothing."""
        entry = Override(region, day, DayKind(kind), name, source)
        if self._put(entry):
            self._bump(entry.region)
        return entry

    def add_overrides(self, overrides: Iterable[Override] | OverrideSet) -> None:
        """Add many entries; each area they change gets one new revision for the whole batch."""
        if isinstance(overrides, OverrideSet):
            for year in overrides.published_years:
                self.publish_year(year)
            overrides = overrides.overrides
        changed = {o.region for o in list(overrides) if self._put(o)}
        for area in sorted(changed):
            self._bump(area)

    def remove_override(self, region: str, day: date) -> bool:
        """Drop an area's entry for a day (e.g. one entered by mistake); True if there was one."""
        area = area_prefix(region)
        if self._entries.get(area, {}).pop(day, None) is None:
            return False
        self._bump(area)
        return True

    def publish_year(self, year: int) -> None:
        """Declare that the national schedule of `year` is complete (package or national overrides)."""
        if year not in self.published_years:
            self._published_extra.add(int(year))
            self._bump(NATIONAL)

    def load(self, path: str | Path) -> OverrideSet:
        """Read an overrides file (JSON or CSV, see ``load_overrides``) into the book."""
        data = load_overrides(path)
        self.add_overrides(data)
        return data

    def overrides(self, region: str | None = None) -> list[Override]:
        """All entries, or those of one area, ordered by area and day."""
        areas = sorted(self._entries) if region is None else [area_prefix(region)]
        return [o for a in areas for _, o in sorted(self._entries.get(a, {}).items())]

    def calendar_for(self, region_code: str | None = None) -> RegionCalendar:
        """The calendar of a county (or of a prefecture/province, or national for None/"CN")."""
        area = area_prefix(region_code or NATIONAL)
        cal = self._cache.get(area)
        if cal is None:
            cal = self._cache[area] = self._make(area)
        return cal

    def national(self) -> RegionCalendar:
        return self.calendar_for(NATIONAL)

    def _make(self, area: str) -> RegionCalendar:
        scopes = [a for a in areas_of(area) if self._revisions.get(a)]
        merged: dict[date, bool] = {}
        for a in scopes:  # general to specific: the most specific entry is written last and wins
            merged.update({d: o.kind is DayKind.WORKING for d, o in self._entries.get(a, {}).items()})
        name = "+".join(["CN", *(a for a in scopes if a != NATIONAL)])
        revision = sum(self._revisions[a] for a in scopes)
        return RegionCalendar(id=f"{name}@{revision}", region=area, overrides=merged,
                              published_years=self.published_years)


# --- override files -----------------------------------------------------------------------

_CSV_FIELDS = ("region", "date", "until", "kind", "name", "source")


def _entries_from_row(row: Mapping[str, Any]) -> list[Override]:
    try:
        region, kind = str(row["region"]), DayKind(str(row["kind"]).strip())
        first = date.fromisoformat(str(row["date"]).strip())
    except (KeyError, ValueError) as exc:
        raise ValueError(f"bad override entry {dict(row)!r}: {exc}") from None
    until_text = str(row.get("until") or "").strip()
    last = date.fromisoformat(until_text) if until_text else first
    if last < first:
        raise ValueError(f"bad override entry {dict(row)!r}: until before date")
    name, source = str(row.get("name") or ""), str(row.get("source") or "")
    return [Override(region, first + timedelta(days=i), kind, name, source) for i in range((last - first).days + 1)]


def overrides_from_dict(data: Mapping[str, Any] | list[Any]) -> OverrideSet:
    """Parse the JSON shape: ``{"published_years": [...], "overrides": [entry, ...]}`` or a bare list.

    An entry is ``{"region", "date", "until"?, "kind": "holiday"|"working", "name"?, "source"?}``;
    ``until`` (inclusive) makes it a range of days.
    """
    rows = data if isinstance(data, list) else data.get("overrides", [])
    years = frozenset(int(y) for y in ([] if isinstance(data, list) else data.get("published_years", [])))
    return OverrideSet(tuple(o for row in rows for o in _entries_from_row(row)), years)


def overrides_from_csv(text: str) -> OverrideSet:
    """Parse the CSV shape: header ``region,date,until,kind,name,source``; lines starting with # are comments."""
    lines = [line for line in io.StringIO(text) if not line.lstrip().startswith("#") and line.strip()]
    reader = csv.DictReader(lines)
    missing = {"region", "date", "kind"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"overrides CSV lacks columns {sorted(missing)}; expected {','.join(_CSV_FIELDS)}")
    return OverrideSet(tuple(o for row in reader for o in _entries_from_row(row)))


def load_overrides(path: str | Path) -> OverrideSet:
    """Read overrides from a ``.json`` or ``.csv`` file (UTF-8)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return overrides_from_csv(text)
    return overrides_from_dict(json.loads(text))
