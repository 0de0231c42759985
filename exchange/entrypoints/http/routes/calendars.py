"""Working-day calendars: is a day a working day in a region, the n-th working day after it, and the extra
holidays and working days (overrides) admins add."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from contracts import is_region, region_name
from exchange.domain.clock import utcnow
from exchange.domain.obligation import end_of_day, local_day
from exchange.domain.problems import Problem
from exchange.entrypoints.http.deps import AdminPrincipal, CalendarOverridesDep, CurrentPrincipal, NodeDep
from exchange.entrypoints.http.document import AUTHENTICATED, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.models import FIRST_DAY, LAST_DAY, CalendarDay, OverrideIn, OverridesAdded, OverrideView

router = APIRouter(tags=["deadlines"])


@router.get("/v1/calendar/{region}", response_model=CalendarDay, responses=problems(AUTHENTICATED, PARAMETERS))
async def calendar_day(
    region: str,
    node: NodeDep,
    principal: CurrentPrincipal,
    day: Annotated[date | None, Query(alias="date", ge=FIRST_DAY, le=LAST_DAY,
                                      description="Default: today in Asia/Shanghai.")] = None,
    n: Annotated[int, Query(ge=0, le=366, description="Also give the n-th working day after the date.")] = 5,
) -> dict[str, Any]:
    """Is a date a working day in this region, and which is the n-th working day after it (受理日不计)."""
    if not is_region(region):
        raise Problem("unknown_region")
    calendar = node.calendars.calendar_for(region)
    day = day or local_day(utcnow())
    nth = calendar.nth_working_day_after(day, n) if n else None
    return {
        "region": region, "name": region_name(region), "calendar_id": calendar.id, "date": day.isoformat(),
        "is_working_day": calendar.is_working_day(day), "n": n,
        "nth_working_day_after": nth.day.isoformat() if nth else None,
        "due_at": end_of_day(nth.day).isoformat() if nth else None,
        "provisional": bool(nth and nth.provisional),
    }


@router.get("/v1/calendar/{region}/overrides", response_model=list[OverrideView],
            responses=problems(AUTHENTICATED, PARAMETERS))
async def list_overrides(region: str, node: NodeDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Extra holidays and working days of a province, prefecture or county (2, 4 or 6 digits)."""
    try:
        return [o.to_dict() for o in node.calendars.overrides(region)]
    except ValueError:
        raise Problem("unknown_region") from None


@router.post("/v1/calendar/overrides", status_code=201, response_model=OverridesAdded,
             responses=problems(PERMITTED, 400, 413, 422), tags=["admin"])
async def add_override(body: OverrideIn, overrides: CalendarOverridesDep, principal: AdminPrincipal
                       ) -> dict[str, Any]:
    """Add extra holidays or working days for a region (admin)."""
    return await overrides.add(body.region, body.date, body.until, body.kind, body.name)
