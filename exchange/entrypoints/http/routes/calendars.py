"""Working-day calendars: is a day a working day in a region, the n-th working day after it, and the extra
holidays and working days (overrides) admins add."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.convertors import Convertor, register_url_convertor

from contracts import is_region, region_name
from exchange.domain.clock import utcnow
from exchange.domain.obligation import end_of_day, local_day
from exchange.domain.problems import Problem
from exchange.entrypoints.http.deps import AdminPrincipal, CalendarOverridesDep, CurrentPrincipal, NodeDep
from exchange.entrypoints.http.document import AUTHENTICATED, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.models import (
    FIRST_DAY,
    LAST_DAY,
    CalendarDay,
    Day,
    OverrideIn,
    OverridesAdded,
    OverrideView,
)

router = APIRouter(tags=["deadlines"])


class _Digits(Convertor):
    """A region code in a path: only these paths are calendars', so GET /v1/calendar/overrides is a 405 of the
    overrides' path (Allow: POST), not a county named "overrides"."""

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _County(_Digits):
    regex = "[0-9]{6}"


class _Region(_Digits):
    regex = "(?:[0-9]{2}){1,3}"


register_url_convertor("county", _County())
register_url_convertor("region", _Region())


@router.get("/v1/calendar/{region:county}", response_model=CalendarDay, responses=problems(AUTHENTICATED, PARAMETERS, 404))
async def calendar_day(
    region: Annotated[str, Path(pattern=r"^[0-9]{6}$", description="County code (GB/T 2260).")],
    node: NodeDep,
    principal: CurrentPrincipal,
    day: Annotated[Day | None, Query(alias="date", ge=FIRST_DAY, le=LAST_DAY,
                                      description="Default: today in Asia/Shanghai.")] = None,
    n: Annotated[int, Query(ge=0, le=366, description="Also give the n-th working day after the date.")] = 5,
) -> dict[str, Any]:
    """Is a date a working day in this region, and which is the n-th working day after it (受理日不计)."""
    if not is_region(region):  # well formed, but no such county: nothing here, as for any other path
        raise Problem("region_not_found")
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


@router.get("/v1/calendar/{region:region}/overrides", response_model=list[OverrideView],
            responses=problems(AUTHENTICATED, PARAMETERS, 404))
async def list_overrides(region: Annotated[str, Path(pattern=r"^([0-9]{2}){1,3}$",
                                                     description="Province, prefecture or county code.")], node: NodeDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Extra holidays and working days of a province, prefecture or county (2, 4 or 6 digits)."""
    try:
        return [o.to_dict() for o in node.calendars.overrides(region)]
    except ValueError:
        raise Problem("region_not_found") from None


@router.post("/v1/calendar/overrides", status_code=201, response_model=OverridesAdded,
             responses=problems(PERMITTED, 400, 413, 422), tags=["admin"])
async def add_override(body: OverrideIn, overrides: CalendarOverridesDep, principal: AdminPrincipal
                       ) -> dict[str, Any]:
    """Add extra holidays or working days for a region (admin)."""
    return await overrides.add(body.region, body.date, body.until, body.kind, body.name)
