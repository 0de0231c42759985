"""API keys over HTTP, for admins: create one (shown once), list them (never a secret), revoke one.

The same router serves nodes and monitors, and takes the same path as `mpx keys create|list|revoke`: the rules of
`exchange.adapters.api_keys.check_grant` (a node issues county and admin keys for its own counties, a monitor
monitor and admin keys within its scope) and the key store, which writes `key_created` and `key_revoked` to the
evidence chain with the admin who acted, in the transaction that makes the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from exchange.entrypoints.http import document
from exchange.entrypoints.http.document import BODY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.domain.problems import Problem
from exchange.adapters.api_keys import MAX_DAYS, MAX_NAME, GrantRefused, check_grant
from exchange.domain.principals import Permission, Principal, Role

if TYPE_CHECKING:
    from exchange.bootstrap import MonitorNode
    from exchange.bootstrap import Node

#: Key ids as `mpx keys create` makes them (12 hex digits), or as provisioned through MPX_BOOTSTRAP_KEY.
KeyIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9.~-]{1,32}$", description="The key's id (mpx_<id>_…).")]


class KeyIn(BaseModel):
    """A key as an admin asks for it; the rules beyond its shape are `mpx keys create`'s."""

    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="county_system, county_operator or admin on a node; provincial_monitor, "
                                   "national_monitor or admin on a monitor.")
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Who holds it, e.g. 徽县卫健局流动人口信息系统.")
    counties: list[Annotated[str, Field(max_length=6)]] = Field(
        default_factory=list, max_length=100,
        description="County roles: the counties it acts for, each served by this node.")
    provinces: list[Annotated[str, Field(max_length=6)]] = Field(
        default_factory=list, max_length=34,
        description="provincial_monitor: the provinces it oversees (33 or 330000), within the monitor's scope.")
    days: int = Field(365, ge=1, le=MAX_DAYS, description="Days until it expires.")


class KeyView(BaseModel):
    """A key as listed: never its secret nor the secret's hash."""

    key_id: str
    name: str
    role: Role
    counties: list[str]
    provinces: list[str]
    created_at: str = Field(description="ISO 8601, UTC.")
    expires_at: str | None
    revoked_at: str | None


class IssuedKeyView(KeyView):
    key: str = Field(description="The key, mpx_<key id>_<secret>: shown in this answer only, stored only hashed.")


class KeyList(BaseModel):
    items: list[KeyView]


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def router(node: Node | MonitorNode) -> APIRouter:
    api = APIRouter(prefix="/v1/admin/keys", tags=["admin"])
    admin = Depends(node.auth.requires(Permission.ADMIN))

    @api.post("", status_code=201, response_model=IssuedKeyView, responses=problems(PERMITTED, BODY),
              openapi_extra=document.body(KeyIn))
    async def create_key(request: Request, principal: Principal = admin) -> Response:
        """Make an API key for a local system, a monitor or an admin; the answer shows it once (admin)."""
        asked = await parse_body(request, KeyIn)
        try:
            grant = check_grant(node.settings, role=asked.role.value, name=asked.name, counties=asked.counties,
                                provinces=asked.provinces, days=asked.days)
        except GrantRefused as refused:
            raise Problem("validation_failed", errors=refused.errors) from None
        issued = await node.keys.issue(grant, by=principal.id)
        view = await node.keys.get(issued.key_id)
        return _json({**view, "key": issued.key}, 201)

    @api.get("", response_model=KeyList, responses=problems(PERMITTED))
    async def list_keys(principal: Principal = admin) -> Response:
        """Every key of this node with its role, jurisdiction, expiry and revocation (admin)."""
        return _json({"items": await node.keys.list()})

    @api.delete("/{key_id}", status_code=204, responses=problems(PERMITTED, PARAMETERS, 404))
    async def revoke_key(key_id: KeyIdPath, principal: Principal = admin) -> Response:
        """Revoke a key: every replica refuses it within 5 seconds. Revoking it again changes nothing (admin)."""
        if await node.keys.revoke(key_id, by=principal.id) is None:
            raise Problem("key_not_found", "no API key with that id", "没有该编号的密钥")
        return Response(status_code=204)

    return api
