"""The county workbench (县级工作台): the pages of a node, for its counties' clerks and viewers. Each page asks the
services the API asks (Worklist, Queries, Outbound, Counterparts) as the signed-in person's principal; `router`
holds them all (records.py: a record and its answer, entry.py: entering and importing records)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from adapters.workbook import export_tables, export_xlsx
from exchange.domain.clock import utcnow
from exchange.domain.worklist import KIND_LABELS, STATUS_LABELS, Kind, LiveStatus
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.exports import XLSX
from exchange.entrypoints.http.web import entry, records
from exchange.entrypoints.http.web.sessions import ReadingPerson, WebUser
from exchange.entrypoints.http.web.templating import NAV, page

NAV["node"] += [("/ui/worklist", "待办", "To-do"), ("/ui/new", "录入", "Enter"), ("/ui/import", "批量导入", "Import"),
                ("/ui/counterparts", "往来县区", "Counterparts")]

router = APIRouter(prefix="/ui", include_in_schema=False)
KindQuery = Annotated[Kind | None, Query()]
StatusQuery = Annotated[LiveStatus | None, Query()]
CountyQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$")]


def both(label: str) -> tuple[str, str]:
    """"反馈 feedback" as ("反馈", "feedback")."""
    zh, _, en = label.partition(" ")
    return zh, en


KINDS = {kind.value: both(label) for kind, label in KIND_LABELS.items()}
STATUSES = {status.value: both(label) for status, label in STATUS_LABELS.items()}


async def _items(request: Request, user: WebUser, county: str | None, kind: Kind | None = None,
                 status: LiveStatus | None = None) -> dict[str, Any]:
    node = request.app.state.node
    return await node.worklist.page(counties=counties_for(user.principal, node.settings.served, county), kind=kind,
                                    status=status, urgency=None, cursor=None, limit=node.settings.page_max,
                                    now=utcnow())


@router.get("/worklist", response_class=HTMLResponse)
async def worklist_page(request: Request, user: ReadingPerson, kind: KindQuery = None, status: StatusQuery = None,
                        county: CountyQuery = None) -> Response:
    """待办: the person's counties' work, soonest due first, coloured by its live status; counts per kind."""
    every = await _items(request, user, county)
    shown = every if kind is None and status is None else await _items(request, user, county, kind, status)
    return page(request, "worklist.html", items=shown["items"], has_more=shown["has_more"],
                per_kind=Counter(i["kind"] for i in every["items"]),
                per_status=Counter(i["status"] for i in every["items"]), kinds=KINDS, statuses=STATUSES,
                kind=kind.value if kind else "", status=status.value if status else "", county=county or "")


def _xlsx(content: bytes, name: str) -> Response:
    return Response(content, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/worklist.xlsx")
async def worklist_export(request: Request, user: ReadingPerson, kind: KindQuery = None, status: StatusQuery = None,
                          county: CountyQuery = None) -> Response:
    """The to-do list as shown, in Excel (the columns of `mpx export worklist`)."""
    items = (await _items(request, user, county, kind, status))["items"]
    return _xlsx(export_xlsx(export_tables("worklist", items)), "worklist")


@router.get("/inbox.xlsx")
async def inbox_export(request: Request, user: ReadingPerson, county: CountyQuery = None) -> Response:
    """The counties' inbox in Excel, a sheet per message type with its fields (as `mpx export inbox`)."""
    node = request.app.state.node
    counties = counties_for(user.principal, node.settings.served, county)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await node.queries.inbox(counties=counties, type_=None, answered=None, cursor=cursor,
                                          limit=node.settings.page_max)
        items += answer["items"]
        if not answer["has_more"]:
            break
        cursor = answer["next_cursor"]
    # As the API answers them (times as ISO text), the form `mpx export inbox` writes its workbook from.
    return _xlsx(export_xlsx(export_tables("inbox", orjson.loads(orjson.dumps(items)))), "inbox")


@router.get("/counterparts", response_class=HTMLResponse)
async def counterparts_page(request: Request, user: ReadingPerson) -> Response:
    """往来县区: who the person's counties exchange with, each one's last receipt, and which look unreachable."""
    node = request.app.state.node
    rows = await node.counterparts.of(counties_for(user.principal, node.settings.served), utcnow())
    return page(request, "counterparts.html", rows=rows,
                minutes=node.settings.web_unreachable_minutes)


router.include_router(records.router)
router.include_router(entry.router)
