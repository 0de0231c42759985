"""API keys over HTTP, for admins: create one (shown once), list them (never a secret), revoke one.

The same router serves nodes and monitors, and takes the same path as `mpx keys create|list|revoke`: the rules of
`exchange.adapters.api_keys.check_grant` (a node issues county and admin keys for its own counties, a monitor
monitor and admin keys within its scope) and the key store, which writes `key_created` and `key_revoked` to the
evidence chain with the admin who acted, in the transaction that makes the change.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field, create_model

from exchange.adapters.api_keys import ROLES_HERE, GrantRefused, check_grant
from exchange.domain.problems import Problem
from exchange.entrypoints.http import document
from exchange.entrypoints.http.deps import AdminPrincipal, AnyNodeDep
from exchange.entrypoints.http.document import BODY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.models import IssuedKeyView, KeyIn, KeyList

#: Key ids as `mpx keys create` makes them (12 hex digits), or as provisioned through MPX_BOOTSTRAP_KEY.
KeyIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9.~-]{1,32}$", description="The key's id (mpx_<id>_…).")]



def router(role: str) -> APIRouter:
    """The keys' routes of a node (`role` node) or a monitor: the document lists the roles that one issues."""
    api = APIRouter(prefix="/v1/admin/keys", tags=["admin"])
    asked_for = create_model("KeyIn", __base__=KeyIn, __doc__=KeyIn.__doc__,
                             role=(Literal[tuple(r.value for r in ROLES_HERE[role])], Field(  # type: ignore[valid-type]
                                 description="The roles this node issues.")))
    api.post("", status_code=201, response_model=IssuedKeyView, responses=problems(PERMITTED, BODY),
             openapi_extra=document.body(asked_for))(create_key)
    api.get("", response_model=KeyList, responses=problems(PERMITTED))(list_keys)
    api.delete("/{key_id}", status_code=204, response_class=Response,
               responses=problems(PERMITTED, PARAMETERS, 404))(revoke_key)
    return api


def _not_stored(response: Response) -> None:
    """A key, or the list of keys, is never kept by a cache."""
    response.headers["Cache-Control"] = "no-store"


async def create_key(request: Request, response: Response, node: AnyNodeDep, principal: AdminPrincipal
                     ) -> dict[str, Any]:
    """Make an API key for a local system, a monitor or an admin; the answer shows it once (admin)."""
    asked = await parse_body(request, KeyIn)
    try:
        grant = check_grant(node.settings, role=asked.role.value, name=asked.name, counties=asked.counties,
                            provinces=asked.provinces, days=asked.days)
    except GrantRefused as refused:
        raise Problem("validation_failed", errors=refused.errors) from None
    issued = await node.keys.issue(grant, by=principal.id)
    view = await node.keys.get(issued.key_id)
    _not_stored(response)
    return {**view, "key": issued.key}


async def list_keys(response: Response, node: AnyNodeDep, principal: AdminPrincipal) -> dict[str, Any]:
    """Every key of this node with its role, jurisdiction, expiry and revocation (admin)."""
    _not_stored(response)
    return {"items": await node.keys.list()}


async def revoke_key(key_id: KeyIdPath, node: AnyNodeDep, principal: AdminPrincipal) -> None:
    """Revoke a key: every replica refuses it within 5 seconds. Revoking it again changes nothing (admin)."""
    if await node.keys.revoke(key_id, by=principal.id) is None:
        raise Problem("key_not_found", "no API key with that id", "没有该编号的密钥")
