"""Reminders emitted for the caller's counties (a deadline near, or passed)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.deps import NodeDep, QueriesDep, ReadingPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.models import ReminderView

router = APIRouter(tags=["deadlines"])


@router.get("/v1/reminders", response_model=list[ReminderView], responses=problems(PERMITTED, PARAMETERS))
async def list_reminders(node: NodeDep, queries: QueriesDep, principal: ReadingPrincipal,
                         county: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    """Reminders emitted for the caller's counties, newest first."""
    return await queries.county_reminders(counties=counties_for(principal, node.settings.served, county))
