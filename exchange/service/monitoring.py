"""Timeliness and overdue figures from the monitor's copy of the obligations.

Cohort: the obligations whose deadline (24:00 Asia/Shanghai of their due day) fell
in [from, to). Overdue is computed live from `now`. No personal field exists here.

Speed. A national monitor holds tens of millions of obligations, so the database
does the counting: one GROUP BY per answer, never a row per obligation loaded
into Python. The receiver side adds up the summary (``exchange.adapters.sql.monitor_summary``:
counts per due day, deadline, receiver, agreement, type and response days, kept
by the feed), deciding overdue from the deadline in its key; the sender side
adds up its own summary (per sender-side due day, sender, agreement, type). SQL
groups by the county, its prefecture or province prefix, the agreement id and
version, the type, or the due day; Python folds
those few rows into the asked groups (days into months) and names them as
before, so labels, ordering and figures are exactly those of the row-by-row
computation (``exchange.domain.figures.timeliness``; the reference
implementation and an equivalence check live in tests/benchmarks/).

The monitor's scope (``MPX_MONITOR_SCOPE``) becomes an SQL condition on the
county codes when it is known (the ``scope`` argument, or the ``Settings`` that
``in_scope`` belongs to); any other ``in_scope`` callable still works, grouped
per county in SQL and filtered in Python.

Verification requests (协查) are obligations too, but requests, not reports: the timeliness figures leave them
out (by message type), and ``verification`` gives theirs apart, with the same machinery and definitions, per
county, region, month or urgency (协查反馈率: answered / due; on-time rate: answered on time / due).

The overdue listing is paginated (``limit``, keyset ``cursor``) with the total
count, and the working days overdue are computed once per distinct
(receiver, due day) of the page.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, and_, case, false, func, literal, or_, select, text, true, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import REQUEST_TYPES, region_name
from contracts.payloads.verification import Urgency
from exchange.adapters.sql.monitor_summary import NO_DAYS
from exchange.adapters.sql.tables import monitor_obligations as mo
from exchange.adapters.sql.tables import monitor_roster as mr
from exchange.adapters.sql.tables import monitor_sender_summary as mss
from exchange.adapters.sql.tables import monitor_summary as ms
from exchange.domain import CalendarBook, Timeliness, combine
from exchange.domain.bulletin import RANKING, CountyMonth, month_period, on_time_share, ranked, row
from exchange.domain.clock import as_utc
from exchange.domain.figures import headline, period_ended, period_fields
from exchange.domain.obligation import local_day, start_of_day
from exchange.domain.problems import Problem
from exchange.domain.region_codes import narrowed
from exchange.domain.roster import match_rate

GroupBy = Literal["county", "prefecture", "province", "agreement", "type", "month"]
VerificationGroupBy = Literal["county", "prefecture", "province", "urgency", "month"]
Side = Literal["receiver", "sender"]

COHORT = ("obligations whose deadline (24:00 Asia/Shanghai of the due day) fell in [from, to); rates, the "
          "clarification rate (clarified / due) included, divide by the due ones (not cancelled)")
SENDER_COHORT = "records whose sender-side deadline (24:00 of the due day after the event date) fell in [from, to)"
VERIFICATION_COHORT = ("verification requests (协查请求) whose deadline (24:00 Asia/Shanghai of the due day, set by "
                       "their urgency) fell in [from, to); withdrawn ones are in no denominator")
ROSTER_MATCH = ("清查匹配率 = 仍在本地人数 ÷ 名单人数, per (registration county, residence county) as the residence "
                "county answered the month's roster; the total is the ratio of the sums")

#: The Chinese names of the urgencies, as the verification figures label their groups.
URGENCY_NAMES = {Urgency.URGENT: "紧急", Urgency.EXPEDITED: "急", Urgency.CERTIFICATE_CHECK: "证明核验"}

BULLETIN_COHORT = ("the month's obligations: those whose deadline (24:00 Asia/Shanghai of the due day) fell in the "
                   "month; cancelled ones leave every count but withdrawn")
#: What each column of the bulletin counts.
BULLETIN_DEFINITIONS = {
    "received": "received (收到): the county's obligations of the month, not cancelled (the timeliness answer's due)",
    "sent": "sent (发出): obligations of the month, not cancelled, whose record the county sent",
    "answered": "answered (已反馈) = answered_on_time (及时) + answered_late (逾期), of the received",
    "overdue_at_month_end": "overdue at month end (月末逾期未反馈): received, not answered, not paused, deadline "
                            "passed, as of overdue_as_of (the month's last instant; now while the month runs); "
                            "an answer given after it counts as not given then",
    "withdrawn": "withdrawn (已撤回): obligations of the month the county received whose sender withdrew the record; "
                 "in no other count",
    "on_time_rate": "on-time rate (及时反馈率): the month's headline rate: answered_on_time / received once the month "
                    "has closed; while it runs (headline: assessable) answered on time / received whose deadline "
                    "has passed",
    "change_points": "change (较上月变化): on_time_rate minus the previous month's (previous_on_time_rate), in "
                     "percentage points; null when either month has no rate",
    "total": "total (合计): the province's counts summed, its rates from the sums",
}
#: Overdue items per page unless the caller asks for another size.
OVERDUE_PAGE = 1000
#: The largest page of overdue items (a national backlog can run to millions).
OVERDUE_PAGE_MAX = 10_000

_TICK = timedelta(microseconds=1)


def _region_group(code: str, level: str) -> str:
    return {"county": code, "prefecture": code[:4] + "00", "province": code[:2] + "0000"}[level]


def group_key(group_by: GroupBy | VerificationGroupBy, side: Side) -> Callable[[Any], str]:
    """The group of a row (anything with the monitor_obligations column names as attributes)."""
    if group_by in ("county", "prefecture", "province"):
        return lambda r: _region_group(getattr(r, side), group_by)
    if group_by == "agreement":
        return lambda r: f"{r.agreement_id}@{r.agreement_version}"
    if group_by == "type":
        return lambda r: r.message_type
    if group_by == "urgency":
        return lambda r: r.urgency or ""
    return lambda r: (r.sender_due_day if side == "sender" else r.due_day).strftime("%Y-%m")


def _sql_grouping(group_by: GroupBy | VerificationGroupBy, side: Side, table: Table) -> tuple[list, Callable[[Any], str]]:
    """The columns to GROUP BY in SQL and how a result row becomes its group (as ``group_key`` would name it).

    Regions group by their code prefix in SQL (a province is a few dozen rows, not one per county); months by
    the due day (at most a few hundred), folded into months here. ``table`` is that side's summary
    (``exchange.adapters.sql.monitor_summary``; the column names of monitor_obligations).
    """
    c = table.c
    if group_by == "prefecture":
        return [func.substr(c[side], 1, 4).label("g_prefix")], lambda r: r.g_prefix + "00"
    if group_by == "province":
        return [func.substr(c[side], 1, 2).label("g_prefix")], lambda r: r.g_prefix + "0000"
    if group_by == "county":
        return [c[side]], group_key(group_by, side)
    if group_by == "agreement":
        return [c.agreement_id, c.agreement_version], group_key(group_by, side)
    if group_by in ("type", "urgency"):
        return [c[{"type": "message_type"}.get(group_by, group_by)]], group_key(group_by, side)
    return [c.sender_due_day if side == "sender" else c.due_day], group_key(group_by, side)


def _label(group_by: GroupBy | VerificationGroupBy, key: str) -> str | None:
    if group_by == "urgency":
        return URGENCY_NAMES.get(key)  # type: ignore[call-overload]
    return region_name(key) if group_by in ("county", "prefecture", "province") else None


def scope_provinces(in_scope: Callable[[str], bool], scope: Iterable[str] | None = None) -> frozenset[str] | None:
    """Two-digit province prefixes the monitor sees; None for all (or unknown: filter with `in_scope`)."""
    if scope is None:
        scope = getattr(getattr(in_scope, "__self__", None), "monitor_scope", None)
    if scope is None:
        return None
    scope = tuple(scope)
    if "all" in scope:
        return None
    return frozenset(p[:2] for p in scope)


class MonitorQueries:
    def __init__(self, engine: AsyncEngine, in_scope: Callable[[str], bool], calendars: CalendarBook,
                 scope: Iterable[str] | None = None):
        self.engine = engine
        self.in_scope = in_scope
        self.calendars = calendars
        self.scope = tuple(scope) if scope is not None else getattr(
            getattr(in_scope, "__self__", None), "monitor_scope", None)
        #: True when the scope is an SQL condition; otherwise rows are filtered with `in_scope` per county.
        self.scope_in_sql = self.scope is not None
        #: The area prefixes whose counties it sees (provinces, or narrower ones by ``within``); None: all.
        self.areas = scope_provinces(in_scope, self.scope) if self.scope_in_sql else None

    def within(self, area: str) -> MonitorQueries:
        """The same queries for the counties of `area` only (an area prefix: "3302" a prefecture, "" the whole
        scope), never beyond this scope: how the dashboard and the API's ``region`` drill down."""
        if not area:
            return self
        narrow = copy.copy(self)
        narrow.in_scope = lambda county: self.in_scope(county) and county.startswith(area)
        if self.scope_in_sql:
            narrow.areas = narrowed(self.areas, area)
        return narrow

    def _scope_condition(self, column) -> ColumnElement[bool]:  # noqa: ANN001 - a county column
        if not self.scope_in_sql or self.areas is None:
            return true()
        if not self.areas:
            return false()
        return or_(*(column.like(f"{p}%") for p in sorted(self.areas)))

    # ---------------------------------------------------------------------------------------------
    # timeliness
    # ---------------------------------------------------------------------------------------------
    async def timeliness(self, *, start: date, end: date, group_by: GroupBy, side: Side,
                         now: datetime) -> dict[str, Any]:
        if side == "receiver":
            out, total = await self._receiver(start, end, group_by, now)
        else:
            out, total = await self._sender(start, end, group_by)
        return {
            "cohort": COHORT if side == "receiver" else SENDER_COHORT,
            "from": start.isoformat(), "to": end.isoformat(), "as_of": now.isoformat(),
            "side": side, "group_by": group_by, "groups": out, "total": total,
            **(period_fields(end, now) if side == "receiver" else {}),
        }

    async def verification(self, *, start: date, end: date, group_by: VerificationGroupBy,
                           now: datetime) -> dict[str, Any]:
        """The verification requests' figures (协查反馈率, on-time rate) of the cohort, as the timeliness answers."""
        out, total = await self._receiver(start, end, group_by, now, requests=True)
        return {"cohort": VERIFICATION_COHORT, "from": start.isoformat(), "to": end.isoformat(),
                "as_of": now.isoformat(), "group_by": group_by, "groups": out, "total": total,
                **period_fields(end, now)}

    def _grouping(self, group_by: GroupBy | VerificationGroupBy, side: Side,
                  table: Table) -> tuple[list, Callable[[Any], str]]:
        """GROUP BY columns (plus the county when the scope is filtered in Python) and the key function."""
        columns, key = _sql_grouping(group_by, side, table)
        if not self.scope_in_sql and not any(c is table.c[side] for c in columns):
            columns = [*columns, table.c[side]]
        return columns, key

    async def _receiver(self, start: date, end: date, group_by: GroupBy | VerificationGroupBy, now: datetime,
                        requests: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The receiver side's figures of the records (or, `requests`, of the verification requests)."""
        groups = await self.receiver_groups(start, end, group_by, now, requests)
        basis = headline(end, now)
        out = [{"group": k, "name": _label(group_by, k), **g.to_dict(basis)} for k, g in sorted(groups.items())]
        return out, combine(groups.values()).to_dict(basis)

    async def receiver_groups(self, start: date, end: date, group_by: GroupBy | VerificationGroupBy, now: datetime,
                              requests: bool = False) -> dict[str, Timeliness]:
        """The receiver side's counts per group of the records (or, `requests`, the verification requests) due in
        [start, end), as of `now`."""
        columns, key = self._grouping(group_by, "receiver", ms)
        # exchange.domain.obligation.status from the summary's counts (exchange.adapters.sql.monitor_summary): cancelled, answered
        # on time, late and paused (open) do not change with time; an open, unpaused one is overdue when
        # now > due_at, else open and not yet due. An answer counts as assessable when its deadline has passed too.
        zero = literal(0)
        counts = [
            func.sum(ms.c.withdrawn).label("withdrawn"),
            func.sum(ms.c.clarified).label("clarified"),
            func.sum(ms.c.paused_working_days).label("paused_working_days"),
            func.sum(case((ms.c.due_at < now, ms.c.on_time), else_=zero)).label("assessed_on_time"),
            func.sum(case((ms.c.due_at < now, ms.c.late), else_=zero)).label("assessed_late"),
            func.sum(ms.c.cancelled).label("cancelled"),
            func.sum(ms.c.on_time).label("on_time"),
            func.sum(ms.c.late).label("late"),
            func.sum(case((ms.c.due_at < now, ms.c.open), else_=zero)).label("overdue"),
            func.sum(ms.c.paused + case((ms.c.due_at >= now, ms.c.open), else_=zero)).label("open"),
        ]
        cohort = and_(_cohort(ms, start, end), self._scope_condition(ms.c.receiver),
                      (ms.c.message_type.in_ if requests else ms.c.message_type.not_in)(sorted(REQUEST_TYPES)))
        query = (select(*columns, ms.c.response_days, *counts).where(cohort)
                 .group_by(*columns, ms.c.response_days))
        async with self.engine.connect() as conn:
            await _custom_plans(conn)
            rows = (await conn.execute(query)).all()

        # key -> [cancelled, on time, late, overdue, open, assessed on time, assessed late,
        #         {response working days: answered}, withdrawn (of the cancelled), clarified, paused working days]
        tallies: dict[str, list] = {}
        check = None if self.scope_in_sql else self.in_scope
        for r in rows:
            if check is not None and not check(r.receiver):
                continue
            k = key(r)
            tally = tallies.get(k)
            if tally is None:
                tally = tallies[k] = [0, 0, 0, 0, 0, 0, 0, {}, 0, 0, 0]
            assessed_on_time, assessed_late, cancelled, on_time, late, overdue, open_ = r[-7:]
            tally[0] += cancelled
            tally[1] += on_time
            tally[2] += late
            tally[3] += overdue
            tally[4] += open_
            tally[5] += assessed_on_time
            tally[6] += assessed_late
            tally[8] += r.withdrawn
            tally[9] += r.clarified
            tally[10] += r.paused_working_days
            days = r.response_days
            if days != NO_DAYS and on_time + late:
                histogram = tally[7]
                histogram[days] = histogram.get(days, 0) + on_time + late
        return {k: _freeze(*t) for k, t in tallies.items()}

    async def _sender(self, start: date, end: date,
                      group_by: GroupBy) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        columns, key = self._grouping(group_by, "sender", mss)
        query = (
            select(*columns, func.sum(mss.c.due).label("due"), func.sum(mss.c.late).label("late"))
            .where(mss.c.sender_due_day >= start, mss.c.sender_due_day < end, self._scope_condition(mss.c.sender))
            .group_by(*columns)
        )
        async with self.engine.connect() as conn:
            await _custom_plans(conn)
            rows = (await conn.execute(query)).all()
        tallies: dict[str, dict[str, int]] = {}
        for r in rows:
            if not self.scope_in_sql and not self.in_scope(r.sender):
                continue
            t = tallies.setdefault(key(r), {"due": 0, "sent_on_time": 0, "sent_late": 0})
            t["due"] += r.due
            t["sent_late"] += r.late
            t["sent_on_time"] += r.due - r.late
        out = [{"group": k, "name": _label(group_by, k), **_sender_rates(t)} for k, t in sorted(tallies.items())]
        total = _sender_rates({n: sum(t[n] for t in tallies.values()) for n in ("due", "sent_on_time", "sent_late")})
        return out, total

    # ---------------------------------------------------------------------------------------------
    # the monthly bulletin
    # ---------------------------------------------------------------------------------------------
    async def bulletin(self, *, province: str, month: str, now: datetime) -> dict[str, Any]:
        """The monthly bulletin (月度通报) of a province (``exchange.domain.bulletin``), as of `now`.

        Received, answered, on time, late and withdrawn are the timeliness answer's receiver-side figures per
        county for the month (the summary); records sent and overdue at month end count the month's obligations
        (one GROUP BY each, over the due-day index): overdue at month end = open, not paused, past the deadline
        as of the month's last instant (now while the month runs), an answer given later counting as none then.
        """
        previous, start, end = month_period(month, now)
        closed = period_ended(end, now)
        at = as_utc(min(now, start_of_day(end)))
        basis, previous_basis = headline(end, now), headline(start, now)
        mine = province[:2]
        current = {c: t for c, t in (await self.receiver_groups(start, end, "county", now)).items() if c[:2] == mine}
        before = {c: t for c, t in (await self.receiver_groups(previous, start, "county", now)).items()
                  if c[:2] == mine}
        cohort = and_(_cohort(mo, start, end), mo.c.message_type.not_in(sorted(REQUEST_TYPES)))  # records only
        live = mo.c.cancelled_at.is_(None)
        sent_query = (select(mo.c.sender, func.count(case((live, 1))).label("n"))
                      .where(cohort, mo.c.sender.like(f"{mine}%")).group_by(mo.c.sender))
        overdue_query = (select(mo.c.receiver, func.count().label("n"))
                         .where(cohort, mo.c.receiver.like(f"{mine}%"), live, mo.c.paused.is_(False), mo.c.due_at < at,
                                or_(mo.c.answered_at.is_(None), mo.c.answered_at > at))
                         .group_by(mo.c.receiver))
        async with self.engine.connect() as conn:
            await _custom_plans(conn)
            sent = {r.sender: r.n for r in await conn.execute(sent_query)}
            overdue = {r.receiver: r.n for r in await conn.execute(overdue_query)}
        counties = [CountyMonth(county, current.get(county, Timeliness()), sent.get(county, 0),
                                overdue.get(county, 0), on_time_share(current.get(county), basis),
                                on_time_share(before.get(county), previous_basis))
                    for county in sorted(current.keys() | sent.keys()) if self.in_scope(county)]
        whole = combine(m.figures for m in counties)
        total = CountyMonth(mine + "0000", whole, sum(m.sent for m in counties),
                            sum(m.overdue_at_month_end for m in counties), on_time_share(whole, basis),
                            on_time_share(combine(before.values()), previous_basis))
        return {
            "month": month, "province": total.county, "name": region_name(total.county),
            "from": start.isoformat(), "to": end.isoformat(), "as_of": now.isoformat(), "month_closed": closed,
            "overdue_as_of": at.isoformat(), "headline": basis, "cohort": BULLETIN_COHORT, "ranking": RANKING,
            "definitions": BULLETIN_DEFINITIONS,
            "counties": [row(rank, m, region_name(m.county)) for rank, m in ranked(counties)],
            "total": row(None, total, region_name(total.county)),
        }

    # ---------------------------------------------------------------------------------------------
    # overdue
    # ---------------------------------------------------------------------------------------------
    async def overdue(self, *, now: datetime, limit: int = OVERDUE_PAGE, cursor: str | None = None) -> dict[str, Any]:
        """Open obligations past their deadline, by due day, message id and sender, one page at a time.

        ``count`` is the number of all overdue obligations; ``items`` holds at most ``limit`` of them,
        after ``cursor`` (the ``next_cursor`` of the page before); ``has_more`` says whether more follow.
        """
        limit = max(1, min(limit, OVERDUE_PAGE_MAX))
        overdue = and_(mo.c.answered_at.is_(None), mo.c.cancelled_at.is_(None), mo.c.paused.is_(False),
                       mo.c.due_at < now, self._scope_condition(mo.c.receiver))
        after = _decode_cursor(cursor) if cursor else None
        # Python's order of (due day, message id, sender), also on a PostgreSQL server with a linguistic collation;
        # two counties may use the same id, so the sender is part of the order.
        message_id = mo.c.message_id.collate("C") if self.engine.dialect.name == "postgresql" else mo.c.message_id
        columns = (mo.c.message_id, mo.c.message_type, mo.c.sender, mo.c.receiver, mo.c.due_at, mo.c.due_day)
        ordered = select(*columns).where(overdue).order_by(mo.c.due_day, message_id, mo.c.sender)
        async with self.engine.connect() as conn:
            await _custom_plans(conn)
            if self.scope_in_sql:
                total = await conn.scalar(select(func.count()).select_from(mo).where(overdue))
                if after is not None:
                    ordered = ordered.where(tuple_(mo.c.due_day, message_id, mo.c.sender) > tuple_(*after))
                rows = (await conn.execute(ordered.limit(limit + 1))).all()
            else:  # an opaque in_scope: filter while reading, count what passes
                seen = [r for r in (await conn.execute(ordered)).all() if self.in_scope(r.receiver)]
                total = len(seen)
                rows = [r for r in seen if after is None or (r.due_day, r.message_id, r.sender) > after][: limit + 1]
        page, has_more = rows[:limit], len(rows) > limit
        today = local_day(now)
        days: dict[tuple[str, date], int] = {}
        items = []
        for r in page:
            pair = (r.receiver, r.due_day)
            if pair not in days:
                days[pair] = self.calendars.calendar_for(r.receiver).working_days_between(r.due_day, today)
            items.append({
                "message_id": r.message_id, "message_type": r.message_type, "sender": r.sender,
                "receiver": r.receiver, "due_at": as_utc(r.due_at).isoformat(), "due_day": r.due_day.isoformat(),
                "working_days_overdue": days[pair],
            })
        return {
            "as_of": now.isoformat(), "count": total, "items": items, "limit": limit, "has_more": has_more,
            "next_cursor": _encode_cursor(page[-1].due_day, page[-1].message_id, page[-1].sender) if page else cursor,
        }

    # ---------------------------------------------------------------------------------------------
    # the monthly roster check (定期清查)
    # ---------------------------------------------------------------------------------------------
    async def roster(self, *, month: str) -> dict[str, Any]:
        """The roster match rate (清查匹配率: still here ÷ persons on the roster) of `month` per county pair (either
        county in scope), with each finding's count, summed over the roster's parts answered; the total's rate is a
        ratio of sums."""
        findings = ("entries", "still_here", "left", "never_arrived", "unknown")
        query = select(mr.c.registration_county, mr.c.residence_county, *(func.sum(mr.c[f]).label(f) for f in findings),
                       func.max(mr.c.parts).label("parts"), func.count().label("parts_answered"),
                       func.max(mr.c.answered_at).label("answered_at")).where(
            mr.c.month == month, or_(self._scope_condition(mr.c.registration_county),
                                     self._scope_condition(mr.c.residence_county))).group_by(
            mr.c.registration_county, mr.c.residence_county).order_by(mr.c.registration_county, mr.c.residence_county)
        async with self.engine.connect() as conn:
            rows = [r for r in await conn.execute(query)
                    if self.scope_in_sql or self.in_scope(r.registration_county) or self.in_scope(r.residence_county)]
        pairs = [{"registration_county": r.registration_county, "registration_name": region_name(r.registration_county),
                  "residence_county": r.residence_county, "residence_name": region_name(r.residence_county),
                  **{f: int(getattr(r, f)) for f in findings}, "match_rate": match_rate(r.still_here, r.entries),
                  "parts": r.parts, "parts_answered": r.parts_answered,
                  "answered_at": as_utc(r.answered_at).isoformat()} for r in rows]
        total = {f: sum(p[f] for p in pairs) for f in findings}
        return {"month": month, "definitions": {"match_rate": ROSTER_MATCH},
                "pairs": pairs, "total": {**total, "match_rate": match_rate(total["still_here"], total["entries"])}}


def _cohort(table: Table, start: date, end: date) -> ColumnElement[bool]:
    """The obligations due in [start, end): by due day (the summary key's first column, an index of the obligations)
    and, to the microsecond, by the deadline itself (day_of_deadline(due_at) in [start, end) <=> start 00:00 <
    due_at <= end 00:00, Asia/Shanghai)."""
    c = table.c
    return and_(c.due_day >= start, c.due_day < end,
                c.due_at >= start_of_day(start) + _TICK, c.due_at <= start_of_day(end))


async def _custom_plans(conn) -> None:  # noqa: ANN001 - AsyncConnection
    """PostgreSQL: plan these queries for their actual dates, in this transaction only.

    The driver prepares statements; after five runs PostgreSQL may switch to a generic plan that does not know
    the period and guesses a few hundred rows (no parallel scan): at 10 million obligations a month's figures
    then take ~2.5x as long.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _freeze(cancelled: int, on_time: int, late: int, overdue: int, open_: int, assessed_on_time: int,
            assessed_late: int, histogram: dict[int, int], withdrawn: int = 0, clarified: int = 0,
            paused_working_days: int = 0) -> Timeliness:
    answered = on_time + late
    return Timeliness(
        due=answered + overdue + open_, answered=answered, answered_on_time=on_time, answered_late=late,
        overdue_open=overdue, open_not_due=open_, cancelled=cancelled, withdrawn=withdrawn,
        response_histogram=tuple(sorted(histogram.items())),
        assessable_answered_on_time=assessed_on_time, assessable_answered_late=assessed_late,
        clarified=clarified, paused_working_days=paused_working_days,
    )


def _sender_rates(t: dict[str, int]) -> dict[str, Any]:
    return {**t, "on_time_rate": t["sent_on_time"] / t["due"] if t["due"] else None}


def _encode_cursor(day: date, message_id: str, sender: str) -> str:
    return base64.urlsafe_b64encode(f"{day.isoformat()}|{message_id}|{sender}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[date, str, str]:
    """A cursor made before senders were in it ("day|id") resumes before every sender of that id."""
    try:
        day, message_id, *sender = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        if len(sender) > 1:
            raise ValueError
        return date.fromisoformat(day), message_id, "".join(sender)
    except (ValueError, UnicodeDecodeError):
        raise Problem("invalid_cursor") from None
