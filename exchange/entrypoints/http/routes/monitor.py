"""The monitor's HTTP API: feedback timeliness and overdue obligations, as JSON, CSV or Excel.

The document describes the JSON answers (`TimelinessView`, `OverduePage`), which FastAPI validates; CSV and Excel
are the same figures as a table, answered as they are (`format=csv|xlsx`)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from exchange.bootstrap import MonitorNode
from exchange.domain.clock import utcnow
from exchange.domain.principals import Principal, Role
from exchange.domain.problems import Problem
from exchange.domain.region_codes import area_prefix
from exchange.entrypoints.http.deps import MonitorDep, MonitorPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.exports import TABLES, Format, render
from exchange.entrypoints.http.models import (
    MONTH_PATTERN,
    BulletinView,
    Day,
    OverduePage,
    RosterMatchView,
    TimelinessView,
    VerificationFigures,
)
from exchange.service.monitoring import (
    OVERDUE_PAGE,
    OVERDUE_PAGE_MAX,
    GroupBy,
    MonitorQueries,
    Side,
    VerificationGroupBy,
)

router = APIRouter(tags=["monitor"])


def scope_of(node: MonitorNode) -> str:
    """The provinces this monitor oversees, in words."""
    scope = node.settings.monitor_scope
    return "all provinces" if "all" in scope else ", ".join(scope)


def _not_monitored(node: MonitorNode) -> Problem:
    scope = scope_of(node)
    return Problem("province_not_monitored", f"this monitor oversees {scope} only", f"本监测节点只覆盖 {scope}")


def _provinces(node: MonitorNode, principal: Principal) -> list[str] | None:
    """The two-digit provinces the caller sees here: None for a national key (the monitor's whole scope)."""
    if principal.role is Role.NATIONAL_MONITOR:
        return None
    provinces = sorted(p for p in principal.provinces if node.settings.in_scope(p + "0000"))
    if not provinces:
        raise _not_monitored(node)
    return provinces


def queries_for(node: MonitorNode, principal: Principal) -> MonitorQueries:
    """A provincial monitor's key sees its own provinces within this monitor's scope; a national key all. A
    provincial key none of whose provinces this monitor oversees is refused (403)."""
    provinces = _provinces(node, principal)
    if provinces is None:
        return node.queries
    return MonitorQueries(node.engine, lambda county: county[:2] in provinces, node.calendars, scope=provinces)


def bulletin_province(node: MonitorNode, principal: Principal, asked: str | None) -> str:
    """The province of a bulletin: the one asked, if the caller sees it here (else 403), or the only one it sees."""
    provinces = _provinces(node, principal)
    if asked is not None:
        if not node.settings.in_scope(asked[:2] + "0000") or (provinces is not None and asked[:2] not in provinces):
            raise _not_monitored(node)
        return asked[:2]
    seen = provinces if provinces is not None else [p for p in node.settings.monitor_scope if p != "all"]
    if len(seen) != 1:
        raise Problem("bad_request", "name the province (province=330000): a bulletin is of one province",
                      "请指明省份（province=330000）：月度通报按省编制")
    return seen[0][:2]


#: Only the counties of one area (drill-down: province, then prefecture, then county).
Region = Annotated[str | None, Query(pattern=r"^(\d{2}|\d{4}|\d{6})$", description=(
    "Only the receiving counties within this area: a province (330000), a prefecture (330200) or a county "
    "(330203); never beyond what the caller sees."))]


def within(queries: MonitorQueries, region: str | None) -> MonitorQueries:
    """The queries narrowed to `region` (a province, prefecture or county code), if one is asked."""
    return queries if region is None else queries.within(area_of(region))


def area_of(region: str) -> str:
    """The area prefix of a region code (330200 -> 3302); 400 for what is none."""
    try:
        return area_prefix(region)
    except ValueError:
        raise Problem("bad_request", f"not a region code: {region}", f"不是行政区划代码：{region}") from None


async def bulletin_of(node: MonitorNode, principal: Principal, province: str | None, month: str) -> dict[str, Any]:
    """The monthly bulletin of the province asked (or the only one the caller sees), as of now."""
    code = bulletin_province(node, principal, province)
    queries = MonitorQueries(node.engine, lambda county: county[:2] == code, node.calendars, scope=[code])
    return await queries.bulletin(province=code, month=month, now=utcnow())


def bulletin_file(answer: dict[str, Any]) -> str:
    """A bulletin's file name: bulletin-330000-2026-11."""
    return f"bulletin-{answer['province']}-{answer['month']}"


def a_period(start: date, end: date) -> None:
    """A cohort runs from a day to a later one."""
    if end <= start:
        raise Problem("bad_request", "to must be after from", "结束日期必须晚于开始日期")


@router.get("/v1/monitor/timeliness", response_model=TimelinessView,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def timeliness(
    start: Annotated[Day, Query(alias="from", description="First due day of the cohort (Asia/Shanghai).")],
    end: Annotated[Day, Query(alias="to", description="Day after the last due day of the cohort.")],
    node: MonitorDep,
    principal: MonitorPrincipal,
    group_by: GroupBy = "county",
    side: Side = "receiver",
    region: Region = None,
    format: Format = "json",  # noqa: A002
) -> Response | dict[str, Any]:
    """反馈率 and 及时反馈率 per group, with counts and response times; roll-ups are ratios of sums.

    Receiver side: beside the full cohort's figures, the assessable ones (可考核: deadline passed as of `as_of`)
    and those not yet due; `headline` says which rates head the answer (assessable while the period runs,
    the full cohort once it has ended) and `definitions` states each."""
    a_period(start, end)
    answer = await within(queries_for(node, principal), region).timeliness(
        start=start, end=end, group_by=group_by, side=side, now=utcnow())
    return render(answer, format, f"timeliness-{start}-{end}")


@router.get("/v1/monitor/verification", response_model=VerificationFigures,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def verification(
    start: Annotated[Day, Query(alias="from", description="First due day of the cohort (Asia/Shanghai).")],
    end: Annotated[Day, Query(alias="to", description="Day after the last due day of the cohort.")],
    node: MonitorDep,
    principal: MonitorPrincipal,
    group_by: VerificationGroupBy = "county",
    region: Region = None,
    format: Format = "json",  # noqa: A002
) -> Response | dict[str, Any]:
    """协查反馈率 and 协查及时反馈率: the verification requests' feedback and on-time rates per receiving county (or
    prefecture, province, month, urgency), ratios of sums, with the cohort stated; the record timeliness figures
    never count them."""
    a_period(start, end)
    answer = await within(queries_for(node, principal), region).verification(start=start, end=end,
                                                                               group_by=group_by, now=utcnow())
    return render(answer, format, f"verification-{start}-{end}")


@router.get("/v1/monitor/overdue", response_model=OverduePage,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def overdue(
    node: MonitorDep,
    principal: MonitorPrincipal,
    format: Format = "json",  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=OVERDUE_PAGE_MAX, description="Items per page.")] = OVERDUE_PAGE,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    region: Region = None,
) -> Response | dict[str, Any]:
    """Open obligations past their deadline now: ids, counties, due dates — never a name or ID number.

    By due day and message id, a page at a time: `count` is the number of all overdue obligations."""
    return render(await within(queries_for(node, principal), region).overdue(now=utcnow(), limit=limit, cursor=cursor),
                  format,
                  "overdue")


@router.get("/v1/monitor/bulletin", response_model=BulletinView,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def bulletin(
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="The month, YYYY-MM.")],
    node: MonitorDep,
    principal: MonitorPrincipal,
    province: Annotated[str | None, Query(pattern=r"^\d{2}(0000)?$", description=(
        "The province (330000 or 33); by default the only one the caller sees."))] = None,
    format: Format = "json",  # noqa: A002
) -> Response | dict[str, Any]:
    """月度通报: the province's counties ranked by on-time feedback rate, with records received and sent, answered,
    on time, late, overdue at month end, withdrawn and the change since the previous month (percentage points).

    A month that has not begun is refused (422 month_not_begun); `month_closed` says whether every deadline of
    the month has passed, `definitions` and `ranking` state what each column counts and how ties are broken."""
    answer = await bulletin_of(node, principal, province, month)
    return render(answer, format, bulletin_file(answer))


@router.get("/v1/monitor/roster", response_model=RosterMatchView,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS)})
async def roster(
    node: MonitorDep,
    principal: MonitorPrincipal,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="清查月份 — YYYY-MM.")],
    format: Format = "json",  # noqa: A002
) -> Response | dict[str, Any]:
    """清查匹配率 (roster match rate: persons still there ÷ persons on the roster) of the month's roster checks, per
    county pair, with the count of each finding; the total is a ratio of sums. Counts only, no person."""
    return render(await queries_for(node, principal).roster(month=month), format, f"roster-{month}")
