"""The monitor's HTTP API: feedback timeliness and overdue obligations, as JSON, CSV or Excel.

The document describes the JSON answers (`TimelinessView`, `OverduePage`), which FastAPI validates; CSV and Excel
are the same figures as a table, answered as they are (`format=csv|xlsx`)."""

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from exchange.bootstrap import MonitorNode
from exchange.domain.clock import utcnow
from exchange.domain.principals import Principal, Role
from exchange.domain.problems import Problem
from exchange.entrypoints.http.deps import MonitorDep, MonitorPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.exports import to_csv, to_xlsx
from exchange.entrypoints.http.models import MONTH_PATTERN, OverduePage, RosterMatchView, TimelinessView
from exchange.service.monitoring import OVERDUE_PAGE, OVERDUE_PAGE_MAX, GroupBy, MonitorQueries, Side

Format = Literal["json", "csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Besides the JSON model: the same answer as a spreadsheet (the response of `_render`).
TABLES = {200: {"content": {"text/csv": {"schema": {"type": "string"}},
                            XLSX: {"schema": {"type": "string", "format": "binary"}}},
                "description": "JSON, or with format=csv or xlsx the same figures as a table (a download)."}}

router = APIRouter(tags=["monitor"])


def scope_of(node: MonitorNode) -> str:
    """The provinces this monitor oversees, in words."""
    scope = node.settings.monitor_scope
    return "all provinces" if "all" in scope else ", ".join(scope)


def _render(answer: dict[str, Any], fmt: Format, name: str) -> Response | dict[str, Any]:
    """The answer in the format asked: a table is a response of its own, as its media type depends on the query;
    JSON is validated against the route's model and written like any answer."""
    if fmt == "csv":
        return Response(to_csv(answer), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(to_xlsx(answer, name), media_type=XLSX,
                        headers={"content-disposition": f'attachment; filename="{name}.xlsx"'})
    return answer


def queries_for(node: MonitorNode, principal: Principal) -> MonitorQueries:
    """A provincial monitor's key sees its own provinces within this monitor's scope; a national key all. A
    provincial key none of whose provinces this monitor oversees is refused (403)."""
    if principal.role is Role.NATIONAL_MONITOR:
        return node.queries
    provinces = sorted(p for p in principal.provinces if node.settings.in_scope(p + "0000"))
    if not provinces:
        scope = scope_of(node)
        raise Problem("province_not_monitored", f"this monitor oversees {scope} only", f"本监测节点只覆盖 {scope}")
    return MonitorQueries(node.engine, lambda county: county[:2] in provinces, node.calendars, scope=provinces)


@router.get("/v1/monitor/timeliness", response_model=TimelinessView,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def timeliness(
    start: Annotated[date, Query(alias="from", description="First due day of the cohort (Asia/Shanghai).")],
    end: Annotated[date, Query(alias="to", description="Day after the last due day of the cohort.")],
    node: MonitorDep,
    principal: MonitorPrincipal,
    group_by: GroupBy = "county",
    side: Side = "receiver",
    format: Format = "json",  # noqa: A002
) -> Response | dict[str, Any]:
    """反馈率 and 及时反馈率 per group, with counts and response times; roll-ups are ratios of sums.

    Receiver side: beside the full cohort's figures, the assessable ones (可考核: deadline passed as of `as_of`)
    and those not yet due; `headline` says which rates head the answer (assessable while the period runs,
    the full cohort once it has ended) and `definitions` states each."""
    if end <= start:
        raise Problem("bad_request", "to must be after from", "结束日期必须晚于开始日期")
    answer = await queries_for(node, principal).timeliness(start=start, end=end, group_by=group_by, side=side,
                                                           now=utcnow())
    return _render(answer, format, f"timeliness-{start}-{end}")


@router.get("/v1/monitor/overdue", response_model=OverduePage,
            responses={**TABLES, **problems(PERMITTED, PARAMETERS, 400)})
async def overdue(
    node: MonitorDep,
    principal: MonitorPrincipal,
    format: Format = "json",  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=OVERDUE_PAGE_MAX, description="Items per page.")] = OVERDUE_PAGE,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> Response | dict[str, Any]:
    """Open obligations past their deadline now: ids, counties, due dates — never a name or ID number.

    By due day and message id, a page at a time: `count` is the number of all overdue obligations."""
    return _render(await queries_for(node, principal).overdue(now=utcnow(), limit=limit, cursor=cursor), format,
                   "overdue")


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
    return _render(await queries_for(node, principal).roster(month=month), format, f"roster-{month}")
