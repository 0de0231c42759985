"""Webhook subscriptions over HTTP (推送订阅): create one (its secret shown once), list, pause and resume, read its
delivery log, retry failed deliveries.

The same rules as `mpx webhooks …`: an admin manages the subscriptions of every county this node serves, a county's
case system (county_system key) those of the counties it acts for; any other subscription is not found. The store
(exchange/adapters/webhooks/store.py) writes each change with its evidence-chain line naming who acted.
"""

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from exchange.domain.principals import Principal, Role
from exchange.domain.problems import Problem
from exchange.domain.webhooks import State, WebhookDeliveryState, url_problem
from exchange.entrypoints.http import document
from exchange.entrypoints.http.auth import counties_for, require_county
from exchange.entrypoints.http.deps import CurrentPrincipal, NodeDep
from exchange.entrypoints.http.document import BODY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.models import (
    IssuedWebhookView,
    WebhookDeliveryList,
    WebhookIn,
    WebhookList,
    WebhookRetried,
    WebhookRetryIn,
    WebhookView,
)

T = TypeVar("T")
IdPath = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$", description="The subscription's id.")]


async def manager(principal: CurrentPrincipal) -> Principal:
    """An admin, or a county's case system (for its own counties)."""
    if principal.role not in (Role.ADMIN, Role.COUNTY_SYSTEM):
        raise Problem("forbidden", f"role {principal.role.value} may not manage webhooks",
                      f"角色 {principal.role.value} 无权管理推送订阅")
    return principal


Manager = Annotated[Principal, Depends(manager)]
router = APIRouter(prefix="/v1/admin/webhooks", tags=["admin", "webhooks"])


def _found(answer: T | None) -> T:
    """The store's answer about a subscription; 404 when it names none of the caller's counties' (another
    county's subscription is not revealed)."""
    if answer is None:
        raise Problem("webhook_not_found", "no webhook subscription with that id for the caller's counties",
                      "调用方所代表的县区没有该推送订阅")
    return answer


def _counties(node: NodeDep, principal: Principal) -> list[str]:
    return counties_for(principal, node.settings.served)


@router.post("", status_code=201, response_model=IssuedWebhookView, responses=problems(PERMITTED, BODY),
             openapi_extra=document.body(WebhookIn))
async def create_webhook(request: Request, response: Response, node: NodeDep, principal: Manager) -> dict[str, Any]:
    """Subscribe a URL to a county's events; the answer shows the signing secret once (`whsec_…`)."""
    asked = await parse_body(request, WebhookIn)
    counties_for(principal, node.settings.served, asked.county)  # 403 county_not_served / not_your_county
    require_county(principal, asked.county)
    wrong = url_problem(asked.url, frozenset(h.lower() for h in node.settings.webhook_hosts))
    if wrong is not None:  # a well-formed request this node refuses by its policy (MPX_WEBHOOK_HOSTS): 403
        raise Problem("url_not_allowed", *wrong)
    view, secret = await node.webhooks.create(asked.county, asked.url, asked.kinds, by=principal.id)
    response.headers["Cache-Control"] = "no-store"
    return {**view, "secret": secret}


@router.get("", response_model=WebhookList, responses=problems(PERMITTED))
async def list_webhooks(node: NodeDep, principal: Manager) -> dict[str, Any]:
    """The subscriptions of the caller's counties (never a secret)."""
    return {"items": await node.webhooks.list(_counties(node, principal))}


@router.get("/{webhook_id}", response_model=WebhookView, responses=problems(PERMITTED, PARAMETERS, 404))
async def get_webhook(webhook_id: IdPath, node: NodeDep, principal: Manager) -> dict[str, Any]:
    """One subscription, its state and, when disabled, why."""
    return _found(await node.webhooks.get(webhook_id, _counties(node, principal)))


@router.post("/{webhook_id}/pause", response_model=WebhookView, responses=problems(PERMITTED, PARAMETERS, 404))
async def pause_webhook(webhook_id: IdPath, node: NodeDep, principal: Manager) -> dict[str, Any]:
    """Hold the subscription's events (still stored, in order) until it is resumed."""
    return _found(await node.webhooks.set_state(webhook_id, _counties(node, principal), State.PAUSED, by=principal.id))


@router.post("/{webhook_id}/resume", response_model=WebhookView, responses=problems(PERMITTED, PARAMETERS, 404))
async def resume_webhook(webhook_id: IdPath, node: NodeDep, principal: Manager) -> dict[str, Any]:
    """Deliver again (a paused or a disabled subscription): held events go out first, in order."""
    view = _found(await node.webhooks.set_state(webhook_id, _counties(node, principal), State.ACTIVE,
                                                by=principal.id))
    node.wake_webhooks()
    return view


@router.get("/{webhook_id}/deliveries", response_model=WebhookDeliveryList,
            responses=problems(PERMITTED, PARAMETERS, 404))
async def list_deliveries(webhook_id: IdPath, node: NodeDep, principal: Manager,
                          state: Annotated[WebhookDeliveryState | None,
                                           Query(description="Only deliveries in this state.")] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """The delivery log, newest first: each event with every attempt's status, duration and error (never the
    payload)."""
    return {"items": _found(await node.webhooks.deliveries(webhook_id, _counties(node, principal), state=state,
                                                           limit=limit))}


@router.post("/{webhook_id}/deliveries/{seq}/retry", response_model=WebhookRetried,
             responses=problems(PERMITTED, PARAMETERS, 404))
async def retry_delivery(webhook_id: IdPath, seq: Annotated[int, Path(ge=1, le=2**62)], node: NodeDep,
                         principal: Manager) -> dict[str, Any]:
    """Send one failed delivery again, from a fresh schedule."""
    retried = _found(await node.webhooks.retry(webhook_id, _counties(node, principal), seq=seq, by=principal.id))
    if not retried:
        raise Problem("delivery_not_found", "no failed delivery with that number", "没有该编号的失败推送")
    node.wake_webhooks()
    return {"retried": retried}


@router.post("/{webhook_id}/retry", response_model=WebhookRetried, responses=problems(PERMITTED, PARAMETERS, BODY, 404),
             openapi_extra=document.body(WebhookRetryIn))
async def retry_failed(request: Request, webhook_id: IdPath, node: NodeDep, principal: Manager) -> dict[str, Any]:
    """Send again every failed delivery stored since a time, in their order."""
    asked = await parse_body(request, WebhookRetryIn)
    retried = _found(await node.webhooks.retry(webhook_id, _counties(node, principal), since=asked.since,
                                               by=principal.id))
    node.wake_webhooks()
    return {"retried": retried}
