"""Deadline rules and their results over HTTP: calendars, agreements, obligations, reminders."""

from datetime import date, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select

from contracts import is_region, region_name
from exchange.entrypoints.http import document
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.document import AUTHENTICATED, FIRST_DAY, LAST_DAY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.bootstrap import Node
from exchange.domain.principals import Permission, Principal
from exchange.service.obligations import obligation_view
from exchange.domain.problems import Problem
from exchange.adapters.crypto.signed_agreements import AgreementRefused
from exchange.domain import Agreement, AgreementError, DayKind, Status
from exchange.domain.events import AgreementAnnounced
from exchange.domain.obligation import end_of_day, local_day
from exchange.adapters.sql.dialect import upsert
from exchange.adapters.sql.tables import calendar_overrides, obligations, reminders
from exchange.domain.clock import utcnow


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


#: Free text stored as it is: no control characters (PostgreSQL refuses NUL in text).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]
#: Longest range of days one override may cover.
MAX_OVERRIDE_DAYS = 366


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(description="Province, prefecture or county code (GB/T 2260).")
    date: Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
    until: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                               description=f"Last day of a range (inclusive), at most {MAX_OVERRIDE_DAYS} days.")
    kind: DayKind
    name: Text = Field("", max_length=128)

    @model_validator(mode="after")
    def _a_short_range(self) -> "OverrideIn":
        if self.until is not None and not 0 <= (self.until - self.date).days < MAX_OVERRIDE_DAYS:
            raise ValueError(f"until must be on or after date, at most {MAX_OVERRIDE_DAYS} days in all")
        return self


class DeadlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, description="Days after the receipt day (which never counts).")
    unit: Literal["working", "calendar"] = "working"


class AgreementIn(BaseModel):
    """A cooperation agreement (区域协作协议) as an admin posts it; the shape is checked here, the rules by
    `exchange.domain.Agreement`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="As messages name it in agreement_id.")
    version: int = Field(ge=1, le=2**31 - 1, description="Versions are immutable; a change is a new version.")
    name: Text = Field("", max_length=200)
    parties: list[str] = Field(min_length=1, max_length=100,
                               description="Region codes at any level (330000 covers all of Zhejiang).")
    effective_from: date
    effective_to: date | None = Field(None, description="Last day in force (inclusive); none: until further notice.")
    feedback_deadlines: dict[str, int | DeadlineIn] = Field(
        default_factory=dict, description="Per record type: working days, or {days, unit}.")
    sender_deadlines: dict[str, int | DeadlineIn] = Field(default_factory=dict)
    covers_within_party: bool = False


def router(node: Node) -> APIRouter:
    settings = node.settings
    api = APIRouter()

    admin = Depends(node.auth.requires(Permission.ADMIN))

    @api.get("/v1/calendar/{region}", responses=problems(AUTHENTICATED, PARAMETERS), tags=["deadlines"])
    async def calendar_day(
        region: str,
        day: Annotated[date | None, Query(alias="date", ge=FIRST_DAY, le=LAST_DAY,
                                          description="Default: today in Asia/Shanghai.")] = None,
        n: Annotated[int, Query(ge=0, le=366, description="Also give the n-th working day after the date.")] = 5,
        principal: Principal = Depends(node.auth.authenticated),
    ) -> Response:
        """Is a date a working day in this region, and which is the n-th working day after it (受理日不计)."""
        if not is_region(region):
            raise Problem("unknown_region")
        calendar = node.calendars.calendar_for(region)
        day = day or local_day(utcnow())
        nth = calendar.nth_working_day_after(day, n) if n else None
        return _json({
            "region": region, "name": region_name(region), "calendar_id": calendar.id, "date": day.isoformat(),
            "is_working_day": calendar.is_working_day(day), "n": n,
            "nth_working_day_after": nth.day.isoformat() if nth else None,
            "due_at": end_of_day(nth.day).isoformat() if nth else None,
            "provisional": bool(nth and nth.provisional),
        })

    @api.get("/v1/calendar/{region}/overrides", responses=problems(AUTHENTICATED, PARAMETERS), tags=["deadlines"])
    async def list_overrides(region: str, principal: Principal = Depends(node.auth.authenticated)) -> Response:
        """Extra holidays and working days of a province, prefecture or county (2, 4 or 6 digits)."""
        try:
            return _json([o.to_dict() for o in node.calendars.overrides(region)])
        except ValueError:
            raise Problem("unknown_region") from None

    @api.post("/v1/calendar/overrides", status_code=201, responses=problems(PERMITTED, 400, 413, 422),
              tags=["deadlines", "admin"])
    async def add_override(body: OverrideIn, principal: Principal = admin) -> Response:
        """Add extra holidays or working days for a region (admin)."""
        if not is_region(body.region):
            raise Problem("unknown_region")
        days = [body.date + timedelta(days=i) for i in range(((body.until or body.date) - body.date).days + 1)]
        async with node.engine.begin() as conn:
            for day in days:
                await conn.execute(upsert(conn, calendar_overrides, ["region", "day"],
                                          {"region": body.region, "day": day, "kind": body.kind.value,
                                           "name": body.name}))
        for day in days:
            node.calendars.add_override(body.region, day, body.kind, body.name)
        return _json({"region": body.region, "days": [d.isoformat() for d in days],
                      "calendar_id": node.calendars.calendar_for(body.region).id}, 201)

    @api.get("/v1/agreements", responses=problems(AUTHENTICATED), tags=["deadlines"])
    async def list_agreements(principal: Principal = Depends(node.auth.authenticated)) -> Response:
        """Every version of every cooperation agreement this node knows."""
        return _json(node.agreements.to_dicts())

    @api.post("/v1/agreements", status_code=202, responses=problems(PERMITTED, document.BODY, 409),
              openapi_extra=document.body(AgreementIn), tags=["deadlines", "admin"])
    async def add_agreement(request: Request, principal: Principal = admin) -> Response:
        """Publish an agreement (a new id, or a new version of one) to every node of the federation (admin)."""
        posted = await parse_body(request, AgreementIn)
        try:
            agreement = Agreement.from_dict(posted.model_dump(mode="json"))
            body = node.agreement_keys.sign(agreement)  # refused unless this node holds an agreements key
            node.agreements.add(agreement)
        except AgreementError as exc:
            raise Problem("invalid_agreement", str(exc), "协作协议无效：" + str(exc)) from None
        except AgreementRefused:
            raise Problem("no_agreement_key", "this node has no agreements signing key (MPX_AGREEMENT_SIGNING_KEY)",
                          "本节点未配置协作协议签名密钥（MPX_AGREEMENT_SIGNING_KEY）") from None
        async with node.uow() as uow:
            uow.record(AgreementAnnounced(agreement.id, agreement.version, body))
        node.relay.wake()
        return _json(agreement.to_dict(), 202)

    @api.get("/v1/obligations", responses=problems(PERMITTED, PARAMETERS), tags=["deadlines"])
    async def list_obligations(
        county: Annotated[str | None, Query()] = None,
        status_: Annotated[Status | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
        principal: Principal = Depends(node.auth.requires(Permission.READ)),
    ) -> Response:
        """The caller's counties' feedback obligations with their live status (overdue is computed now)."""
        counties = counties_for(principal, settings.served, county)
        now = utcnow()
        async with node.engine.connect() as conn:
            rows = (await conn.execute(select(obligations.c.state).where(obligations.c.receiver.in_(counties))
                                       .order_by(obligations.c.due_at))).all()
        views = [obligation_view(r.state, now) for r in rows]
        if status_:
            views = [v for v in views if v["status"] == status_.value]
        return _json({"as_of": now.isoformat(), "items": views[:limit], "count": len(views)})

    @api.get("/v1/reminders", responses=problems(PERMITTED, PARAMETERS), tags=["deadlines"])
    async def list_reminders(county: Annotated[str | None, Query()] = None,
                             principal: Principal = Depends(node.auth.requires(Permission.READ))) -> Response:
        """Reminders emitted for the caller's counties, newest first."""
        counties = counties_for(principal, settings.served, county)
        async with node.engine.connect() as conn:
            rows = (await conn.execute(select(reminders).where(reminders.c.receiver.in_(counties))
                                       .order_by(reminders.c.emitted_at.desc()).limit(500))).all()
        return _json([{"message_id": r.message_id, "sender": r.sender, "kind": r.kind, "receiver": r.receiver,
                       "due_at": r.due_at.isoformat(), "fire_at": r.fire_at.isoformat(),
                       "emitted_at": r.emitted_at.isoformat()} for r in rows])

    return api
