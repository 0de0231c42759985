"""The county workbench (县级工作台): the pages of a node, for its counties' clerks and viewers. Each page asks the
services the API asks (Worklist, Queries, Outbound) as the signed-in person's principal."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from exchange.domain.clock import utcnow
from exchange.domain.worklist import KIND_LABELS, STATUS_LABELS, Kind, LiveStatus
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.web.sessions import ReadingPerson
from exchange.entrypoints.http.web.templating import NAV, page

NAV["node"] += [("/ui/worklist", "待办", "To-do")]

router = APIRouter(prefix="/ui", include_in_schema=False)


def both(label: str) -> tuple[str, str]:
    """"反馈 feedback" as ("反馈", "feedback")."""
    zh, _, en = label.partition(" ")
    return zh, en


KINDS = {kind.value: both(label) for kind, label in KIND_LABELS.items()}
STATUSES = {status.value: both(label) for status, label in STATUS_LABELS.items()}


@router.get("/worklist", response_class=HTMLResponse)
async def worklist_page(request: Request, user: ReadingPerson,
                        kind: Annotated[Kind | None, Query()] = None,
                        status: Annotated[LiveStatus | None, Query()] = None,
                        county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None) -> Response:
    """待办: the person's counties' work, soonest due first, coloured by its live status; counts per kind."""
    node = request.app.state.node
    counties = counties_for(user.principal, node.settings.served, county)
    now, limit = utcnow(), node.settings.page_max
    every = await node.worklist.page(counties=counties, kind=None, status=None, urgency=None, cursor=None,
                                     limit=limit, now=now)
    shown = every if kind is None and status is None else await node.worklist.page(
        counties=counties, kind=kind, status=status, urgency=None, cursor=None, limit=limit, now=now)
    return page(request, "worklist.html", items=shown["items"], has_more=shown["has_more"],
                per_kind=Counter(i["kind"] for i in every["items"]),
                per_status=Counter(i["status"] for i in every["items"]), kinds=KINDS, statuses=STATUSES,
                kind=kind.value if kind else "", status=status.value if status else "", county=county or "")
