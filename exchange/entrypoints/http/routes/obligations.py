"""Feedback obligations of the caller's counties, with their live status."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from exchange.config import Settings
from exchange.domain import Status
from exchange.domain.clock import utcnow
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.deps import NodeDep, QueriesDep, ReadingPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.models import ObligationPage


def router(settings: Settings) -> APIRouter:
    """The route; `settings` bounds a page (MPX_PAGE_MAX, in the document)."""
    api = APIRouter(tags=["deadlines"])

    @api.get("/v1/obligations", response_model=ObligationPage, responses=problems(PERMITTED, PARAMETERS))
    async def list_obligations(
        node: NodeDep,
        queries: QueriesDep,
        principal: ReadingPrincipal,
        county: Annotated[str | None, Query()] = None,
        status_: Annotated[Status | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
    ) -> dict[str, Any]:
        """The caller's counties' feedback obligations with their live status (overdue is computed now)."""
        counties = counties_for(principal, node.settings.served, county)
        return await queries.county_obligations(counties=counties, status=status_, limit=limit, now=utcnow())

    return api
