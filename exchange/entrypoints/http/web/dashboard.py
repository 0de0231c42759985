"""The provincial dashboard (省级监测看板) on a monitor: the monitor's figures as pages, for people who sign in.

Every figure comes from the service the API answers from (``MonitorQueries`` through ``queries_for``, the same
jurisdiction: a provincial monitor sees its province only) and is shown with the definition that answer states
(cohort, numerator, denominator), in Chinese with the answer's English beside it. No personal field exists on a
monitor, and none is read here. Charts are Apache ECharts, served by the node (static/vendor/echarts).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from contracts import region_name
from exchange.domain.clock import SHANGHAI, utcnow
from exchange.domain.figures import months_between, trend_window
from exchange.domain.obligation import local_day
from exchange.domain.principals import Principal
from exchange.domain.problems import Problem
from exchange.domain.region_codes import areas_of, display_code, finer
from exchange.entrypoints.http.exports import render as export
from exchange.entrypoints.http.models import MONTH_PATTERN
from exchange.entrypoints.http.routes.monitor import (
    Region,
    a_period,
    bulletin_file,
    bulletin_of,
    queries_for,
)
from exchange.entrypoints.http.routes.monitor import (
    area_of as region_area,
)
from exchange.entrypoints.http.web.sessions import MonitoringPerson, WebUser
from exchange.entrypoints.http.web.templating import NAV
from exchange.entrypoints.http.web.templating import page as render
from exchange.service.monitoring import MonitorQueries

router = APIRouter(prefix="/ui/dashboard", include_in_schema=False)
NAV["monitor"] += [("/ui/dashboard", "监测看板", "Dashboard"), ("/ui/dashboard/overdue", "逾期清单", "Overdue"),
                   ("/ui/dashboard/bulletin", "月度通报", "Monthly bulletin"),
                   ("/ui/dashboard/roster", "定期清查", "Roster check")]

#: How many overdue obligations the overview lists (the overdue page lists them all, a page at a time).
OVERDUE_SHOWN = 20
OVERDUE_PAGE = 100

#: What each figure means, in Chinese; the English beside it is the answer's own (``definitions``, ``cohort``).
DEFINITIONS_ZH = {
    "cohort": "统计口径：截止时间（截止日 24:00，北京时间）落在所选期间内的反馈义务；"
              "应反馈 = 其中未撤销的，已撤销的不计入任何分母。",
    "rates": "反馈率 = 已反馈 ÷ 应反馈；及时反馈率 = 截止前反馈 ÷ 应反馈（应反馈：未撤销的义务）。",
    "assessable": "期间未结束时以可考核口径为准：分母为截止时间已过的义务（未撤销、未暂停）= 已反馈 + 逾期未反馈。",
    "clarified": "补充说明率 = 请求过补充说明的义务 ÷ 应反馈；平均暂停工作日 = 暂停工作日合计 ÷ 请求过补充说明的义务。",
    "trend": "按月趋势：义务按截止日所在月份归组，各月比率口径同上（已结束的月份按全部口径，本月按可考核口径）。",
    "verification": "协查反馈率 = 已反馈的协查请求 ÷ 应反馈的协查请求；协查及时反馈率 = 按时反馈的 ÷ 应反馈的；"
                    "截止时间由紧急程度决定，撤回的不计入分母。",
    "overdue": "逾期未反馈：截止时间已过、尚未反馈、未暂停的义务；逾期工作日按接收地的工作日历计算（不含截止日）。",
    "roster": "清查匹配率 = 仍在本地人数 ÷ 名单人数，按（户籍地，现居住地）统计；合计为各项之和的比率。",
    "bulletin": "月度通报：当月截止的义务，按及时反馈率从高到低排名；同率者应反馈多者在前，再按县区代码；"
                "无应反馈的不排名。",
}


def percent(value: float | None) -> str:
    """A rate as Chinese offices write it: 87.5%; a rate with nothing to divide by: —."""
    return "—" if value is None else f"{value * 100:.1f}%"


def chinese_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def beijing_time(instant: str) -> str:
    """An answer's as_of as Chinese offices read it: 2026年11月20日 10:00（北京时间）."""
    at = datetime.fromisoformat(instant).astimezone(SHANGHAI)
    return f"{chinese_day(at.date())} {at:%H:%M}（北京时间 Beijing time）"


def area_name(prefix: str) -> str:
    return "全部 all" if not prefix else region_name(display_code(prefix)) or display_code(prefix)


def period_of(start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked, by default this month (Asia/Shanghai) so far and to its end."""
    today = local_day(utcnow())
    start = start or today.replace(day=1)
    end = end or (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    a_period(start, end)
    return start, end


def shortcuts(today: date) -> list[dict[str, str]]:
    """The period picker's quick choices: this month, last month, this year."""
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    return [{"label": "本月 this month", "from": this_month.isoformat(), "to": next_month.isoformat()},
            {"label": "上月 last month", "from": last_month.isoformat(), "to": this_month.isoformat()},
            {"label": "本年 this year", "from": today.replace(month=1, day=1).isoformat(),
             "to": date(today.year + 1, 1, 1).isoformat()}]


#: The rates a chart of timeliness figures shows: the headline ones (assessable while the period runs).
HEADLINE_RATES = {"反馈率 feedback rate": "headline_feedback_rate", "及时反馈率 on-time rate": "headline_on_time_rate"}


def chart(kind: str, rows: list[dict[str, Any]], label: str, rates: dict[str, str], definition: str) -> dict[str, Any]:
    """What static/dashboard/dashboard.js draws with ECharts: a series per rate (in percent) over the rows, each
    labelled by its name (else its `label` field), the figure's definition in the tooltip."""
    return {"kind": kind, "labels": [r.get("name") or r[label] for r in rows], "definition": definition,
            "series": [{"name": name, "values": [None if r[rate] is None else round(r[rate] * 100, 1) for r in rows]}
                       for name, rate in rates.items()]}


def shown_area(principal: Principal, region: str | None) -> str:
    """The area a page shows: the one asked, else the caller's only province (else all it sees, by province)."""
    if region is not None:
        return region_area(region)
    provinces = sorted(principal.provinces)
    return provinces[0] if len(provinces) == 1 else ""


def breadcrumbs(area: str, principal: Principal) -> list[dict[str, str]]:
    """The way back up: the caller's own province first (a provincial monitor has nothing above it)."""
    crumbs = [a for a in areas_of(display_code(area)) if a] if area else []
    return [{"code": display_code(a), "name": area_name(a)} for a in crumbs
            if not principal.provinces or a[:2] in principal.provinces]


async def overview_of(queries: MonitorQueries, area: str, start: date, end: date) -> dict[str, Any]:
    """The overview of an area: its figures by the next level down, the trend by month, verification requests
    (协查) and the first overdue obligations, each with its definition."""
    now = utcnow()
    level: Any = finer(area)  # province, prefecture or county: a group_by of both answers
    figures = await queries.timeliness(start=start, end=end, group_by=level, side="receiver", now=now)
    trend_start, trend_end = trend_window(end)
    trend = await queries.timeliness(start=trend_start, end=trend_end, group_by="month", side="receiver", now=now)
    verification = await queries.verification(start=start, end=end, group_by=level, now=now)
    overdue = await queries.overdue(now=now, limit=OVERDUE_SHOWN)
    return {
        "level": level, "figures": figures, "trend": trend, "verification": verification, "overdue": overdue,
        "drill": len(area) < 6,
        "charts": {
            "groups": chart("bar", figures["groups"], "group", HEADLINE_RATES,
                            DEFINITIONS_ZH["rates"] + " " + figures["definitions"][figures["headline"]]),
            "trend": chart("line", every_month(trend, trend_start, trend_end), "group", HEADLINE_RATES,
                           DEFINITIONS_ZH["trend"] + " " + trend["cohort"]),
        },
    }


def every_month(trend: dict[str, Any], start: date, end: date) -> list[dict[str, Any]]:
    """The trend's months, those with nothing due too (no rate), so that the chart's axis is the whole window."""
    given = {g["group"]: g for g in trend["groups"]}
    return [given.get(month, {"group": month, **dict.fromkeys(HEADLINE_RATES.values())})
            for month in months_between(start, end)]


def page(request: Request, template: str, **context: Any) -> HTMLResponse:
    return render(request, f"dashboard/{template}", **{
        "percent": percent, "chinese_day": chinese_day, "beijing_time": beijing_time, "zh": DEFINITIONS_ZH,
        "region_name": region_name, **context})


def scoped(request: Request, user: WebUser, region: str | None) -> tuple[MonitorQueries, str]:
    """The person's queries narrowed to the area shown; a region the person does not oversee is refused (403), as
    the API's bulletin refuses a province not seen."""
    area = shown_area(user.principal, region)
    queries = queries_for(request.app.state.node, user.principal)
    narrow = queries.within(area)
    if area and narrow.areas == frozenset():
        raise Problem("province_not_monitored", f"{display_code(area)} is outside what you oversee",
                      f"{display_code(area)} 不在您的监测范围内")
    return narrow, area


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, user: MonitoringPerson, region: Region = None,
                   start: Annotated[date | None, Query(alias="from")] = None,
                   end: Annotated[date | None, Query(alias="to")] = None) -> HTMLResponse:
    queries, area = scoped(request, user, region)
    start, end = period_of(start, end)
    view = await overview_of(queries, area, start, end)
    return page(request, "overview.html", area=area, area_name=area_name(area),
                crumbs=breadcrumbs(area, user.principal), start=start, end=end,
                shortcuts=shortcuts(local_day(utcnow())), **view)


@router.get("/overdue", response_class=HTMLResponse)
async def overdue(request: Request, user: MonitoringPerson, region: Region = None,
                  cursor: str | None = None) -> HTMLResponse:
    queries, area = scoped(request, user, region)
    listing = await queries.overdue(now=utcnow(), limit=OVERDUE_PAGE, cursor=cursor)
    return page(request, "overdue.html", area=area, area_name=area_name(area),
                crumbs=breadcrumbs(area, user.principal), overdue=listing)


def _month(month: str | None) -> str:
    return month or local_day(utcnow()).strftime("%Y-%m")


Month = Annotated[str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM")]
Province = Annotated[str | None, Query(pattern=r"^\d{2}(0000)?$")]


@router.get("/bulletin", response_class=HTMLResponse)
async def bulletin(request: Request, user: MonitoringPerson, month: Month = None,
                   province: Province = None) -> HTMLResponse:
    province = province or min(user.principal.provinces, default=None)  # a person of several: the first
    answer = await bulletin_of(request.app.state.node, user.principal, province, _month(month))
    ranked = [c for c in answer["counties"] if c["rank"] is not None]
    return page(request, "bulletin.html", bulletin=answer, month=answer["month"],
                provinces=[display_code(p) for p in sorted(user.principal.provinces)], chart=chart(
        "bar", ranked, "county", {"及时反馈率 on-time rate": "on_time_rate"},
        DEFINITIONS_ZH["bulletin"] + " " + answer["definitions"]["on_time_rate"]))


@router.get("/bulletin.xlsx")
async def bulletin_workbook(request: Request, user: MonitoringPerson, month: Month = None,
                            province: Province = None) -> Response:
    """The bulletin as the API's Excel file (the same rendering)."""
    answer = await bulletin_of(request.app.state.node, user.principal, province, _month(month))
    return export(answer, "xlsx", bulletin_file(answer))  # type: ignore[return-value]


@router.get("/roster", response_class=HTMLResponse)
async def roster(request: Request, user: MonitoringPerson, month: Month = None) -> HTMLResponse:
    month = month or (local_day(utcnow()).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    answer = await queries_for(request.app.state.node, user.principal).roster(month=month)
    return page(request, "roster.html", roster=answer, month=month)
