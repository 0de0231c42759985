"""The monthly roster check (定期清查) over HTTP: running it (admin) and what a county's rosters found.

A run sends each residence county the roster of the month from this node's counties, once per month and pair; the
residence county's node answers it by itself. The listing shows ids and county codes only, never a person."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from exchange.entrypoints.http import document
from exchange.entrypoints.http.auth import jurisdiction
from exchange.entrypoints.http.deps import AdminPrincipal, NodeDep, ReadingPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.models import MONTH_PATTERN, RosterRun, RosterRunIn, RosterView

router = APIRouter(tags=["roster check"])


@router.post("/v1/admin/roster-runs", response_model=RosterRun,
             responses=problems(PERMITTED, document.BODY, 409, 503), openapi_extra=document.body(RosterRunIn),
             tags=["admin"])
async def run_roster(request: Request, node: NodeDep, principal: AdminPrincipal) -> dict[str, Any]:
    """Send the month's rosters now (admin; `mpx roster run` does the same). Once per month and county pair: a
    pair sent before is listed under `already_sent` and sent nothing. 409 month_not_closed before the month's
    cut-off day (MPX_ROSTER_CUTOFF_DAY), sending nothing."""
    posted = await parse_body(request, RosterRunIn)
    return await node.rosters.run(posted.month)


@router.get("/v1/roster", response_model=RosterView, responses=problems(PERMITTED, PARAMETERS))
async def get_roster(
    node: NodeDep,
    principal: ReadingPrincipal,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="清查月份 — YYYY-MM.")],
) -> dict[str, Any]:
    """The month's rosters the caller's counties sent or answered, with their counts, and each side's
    discrepancies (仍在本地 not found) with what to do next; resolved once a return cancellation of the
    registration is sent (or received). Ids and codes only. An admin sees every county of the node."""
    counties = jurisdiction(principal, node.settings.served)
    return await node.rosters.view(month, node.settings.served if counties is None else counties)
