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
from exchange.entrypoints.http.deps import MonitorDep, MonitorPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.exports import TABLES, Format, render
from exchange.entrypoints.http.models import OverduePage, TimelinessView
from exchange.service.monitoring import OVERDUE_PAGE, OVERDUE_PAGE_MAX, GroupBy, MonitorQueries, Side

router = APIRouter(tags=["monitor"])


def scope_of(node: MonitorNode) -> str:
    """The provinces this monitor oversees, in words."""
    scope = node.settings.monitor_scope
    return "all provinces" if "all" in scope else ", ".join(scope)


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
    return render(answer, format, f"timeliness-{start}-{end}")


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
    return render(await queries_for(node, principal).overdue(now=utcnow(), limit=limit, cursor=cursor), format,
                  "overdue")
