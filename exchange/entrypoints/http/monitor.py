"""The monitor's HTTP API: feedback timeliness and overdue obligations, as JSON, CSV or Excel."""

from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, AsyncIterator, Literal

import orjson
from fastapi import Depends, FastAPI, Query
from fastapi.responses import Response

from exchange.entrypoints.http import docs_pages, document, errors, keys, scrape
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.config import Settings
from exchange.entrypoints.http.exports import to_csv, to_xlsx
from exchange.bootstrap import MonitorNode
from exchange.service.monitoring import OVERDUE_PAGE, OVERDUE_PAGE_MAX, GroupBy, Side
from exchange.service.monitoring import MonitorQueries
from exchange.domain.problems import Problem
from exchange.domain.principals import Permission, Principal, Role
from exchange.domain.clock import utcnow

Format = Literal["json", "csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _render(answer: dict, fmt: Format, name: str) -> Response:
    if fmt == "csv":
        return Response(to_csv(answer), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(to_xlsx(answer, name), media_type=XLSX,
                        headers={"content-disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(orjson.dumps(answer), media_type="application/json")


def create_monitor_app(settings: Settings) -> FastAPI:
    node = MonitorNode(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    scope = "all provinces" if "all" in settings.monitor_scope else ", ".join(settings.monitor_scope)
    app = docs_pages.application(title="Migrant-population exchange monitor 流动人口信息交换监测", version="1.0",
                                 lifespan=lifespan,
                  description=f"Feedback timeliness for {scope}. No personal data is ever held or returned here.")
    app.state.node = node
    scrape.install(app, node.metrics, settings.metrics_token.get_secret_value())
    errors.install(app, node.uow, node.metrics)
    document.complete(app)
    app.include_router(keys.router(node))
    monitor = Depends(node.auth.requires(Permission.MONITOR))

    def queries_for(principal: Principal) -> MonitorQueries:
        """A provincial monitor's key sees its own provinces within this monitor's scope; a national key all. A
        provincial key none of whose provinces this monitor oversees is refused (403)."""
        if principal.role is Role.NATIONAL_MONITOR:
            return node.queries
        provinces = sorted(p for p in principal.provinces if settings.in_scope(p + "0000"))
        if not provinces:
            raise Problem("province_not_monitored", f"this monitor oversees {scope} only", f"本监测节点只覆盖 {scope}")
        return MonitorQueries(node.engine, lambda county: county[:2] in provinces, node.calendars, scope=provinces)

    @app.get("/v1/monitor/timeliness", tags=["monitor"], responses=problems(PERMITTED, PARAMETERS, 400))
    async def timeliness(
        start: Annotated[date, Query(alias="from", description="First due day of the cohort (Asia/Shanghai).")],
        end: Annotated[date, Query(alias="to", description="Day after the last due day of the cohort.")],
        group_by: GroupBy = "county",
        side: Side = "receiver",
        format: Format = "json",  # noqa: A002
        principal: Principal = monitor,
    ) -> Response:
        """反馈率 and 及时反馈率 per group, with counts and response times; roll-ups are ratios of sums.

        Receiver side: beside the full cohort's figures, the assessable ones (可考核: deadline passed as of `as_of`)
        and those not yet due; `headline` says which rates head the answer (assessable while the period runs,
        the full cohort once it has ended) and `definitions` states each."""
        if end <= start:
            raise Problem("bad_request", "to must be after from", "结束日期必须晚于开始日期")
        answer = await queries_for(principal).timeliness(start=start, end=end, group_by=group_by, side=side, now=utcnow())
        return _render(answer, format, f"timeliness-{start}-{end}")

    @app.get("/v1/monitor/overdue", tags=["monitor"], responses=problems(PERMITTED, PARAMETERS, 400))
    async def overdue(
        format: Format = "json",  # noqa: A002
        limit: Annotated[int, Query(ge=1, le=OVERDUE_PAGE_MAX, description="Items per page.")] = OVERDUE_PAGE,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
        principal: Principal = monitor,
    ) -> Response:
        """Open obligations past their deadline now: ids, counties, due dates — never a name or ID number.

        By due day and message id, a page at a time: `count` is the number of all overdue obligations."""
        return _render(await queries_for(principal).overdue(now=utcnow(), limit=limit, cursor=cursor), format, "overdue")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        checks = await node.ready()
        stopped = node.stopped()
        ok = all(checks.values()) and not stopped
        return Response(orjson.dumps({"status": "ready" if ok else "not ready", **checks, "stopped": stopped}),
                        status_code=200 if ok else 503, media_type="application/json")

    return app
