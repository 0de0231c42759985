"""What routes depend on, as `Annotated` types: the node serving the request, the caller's principal and the
permission a route needs. The app factories (`exchange.entrypoints.http.app`) put the node and its `Auth` on
`app.state`; per request only the caller's principal is made. The services a route calls are the node's own,
built by `exchange.bootstrap` (`QueriesDep`, `WorklistDep`, `CalendarOverridesDep`,
`AgreementPublisherDep`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from exchange.bootstrap import MonitorNode, Node
from exchange.domain.principals import Permission, Principal
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import Auth, bearer
from exchange.service.agreements import AgreementPublisher
from exchange.service.calendars import CalendarOverrides
from exchange.service.queries import Queries
from exchange.service.worklist import Worklist


def get_node(request: Request) -> Node | MonitorNode:
    return request.app.state.node


def get_auth(request: Request) -> Auth:
    return request.app.state.auth


#: The node behind a node's app.
NodeDep = Annotated[Node, Depends(get_node)]
#: The monitor behind a monitor's app.
MonitorDep = Annotated[MonitorNode, Depends(get_node)]
#: Either (routes both serve, e.g. the admin keys).
AnyNodeDep = Annotated[Node | MonitorNode, Depends(get_node)]
AuthDep = Annotated[Auth, Depends(get_auth)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_queries(node: NodeDep) -> Queries:
    """What local systems read (a message, the inbox), payloads opened with the node's keys."""
    return node.queries


QueriesDep = Annotated[Queries, Depends(get_queries)]


def get_worklist(node: NodeDep) -> Worklist:
    """The to-do lists of the node's counties (exchange.service.worklist)."""
    return node.worklist


WorklistDep = Annotated[Worklist, Depends(get_worklist)]


def get_calendar_overrides(node: NodeDep) -> CalendarOverrides:
    """Adding calendar overrides: the node's service (exchange.service.calendars)."""
    return node.calendar_overrides


CalendarOverridesDep = Annotated[CalendarOverrides, Depends(get_calendar_overrides)]


def get_agreement_publisher(node: NodeDep) -> AgreementPublisher:
    """Publishes agreements to the federation (exchange.service.agreements)."""
    return node.agreement_publisher


AgreementPublisherDep = Annotated[AgreementPublisher, Depends(get_agreement_publisher)]


def client_address(request: Request) -> str | None:
    """The client's address (behind a reverse proxy: the one it forwards, if uvicorn trusts it; see README)."""
    return request.client.host if request.client else None


async def current_principal(request: Request, auth: AuthDep, credentials: BearerDep) -> Principal:
    """Any valid principal (for what every role may read, e.g. calendars); 401 or 429 otherwise."""
    principal = await auth.principal(credentials.credentials if credentials else None, client_address(request))
    request.state.principal = principal.id  # for the audit line of a refusal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_permission(principal: Principal, permission: Permission) -> None:
    """403 unless the principal (a key's, a token's or a signed-in person's) holds `permission`."""
    if not principal.may(permission):
        raise Problem("forbidden", f"role {principal.role.value} may not {permission.value}",
                      f"角色 {principal.role.value} 无权执行 {permission.value}")


def requires(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller's principal, which must hold `permission` (403 otherwise)."""

    async def permitted(principal: CurrentPrincipal) -> Principal:
        require_permission(principal, permission)
        return principal

    return permitted


SendingPrincipal = Annotated[Principal, Depends(requires(Permission.SEND))]
AnsweringPrincipal = Annotated[Principal, Depends(requires(Permission.ANSWER))]
ReadingPrincipal = Annotated[Principal, Depends(requires(Permission.READ))]
AdminPrincipal = Annotated[Principal, Depends(requires(Permission.ADMIN))]
MonitorPrincipal = Annotated[Principal, Depends(requires(Permission.MONITOR))]
