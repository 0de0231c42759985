"""Cooperation agreements (区域协作协议): every version this node knows, and publishing one (admin)."""

from typing import Any

from fastapi import APIRouter, Request

from exchange.adapters.crypto.signed_agreements import AgreementRefused
from exchange.bootstrap import Node
from exchange.domain import Agreement, AgreementError
from exchange.domain.events import AgreementAnnounced
from exchange.domain.problems import Problem
from exchange.entrypoints.http import document
from exchange.entrypoints.http.deps import AdminPrincipal, CurrentPrincipal, NodeDep
from exchange.entrypoints.http.document import AUTHENTICATED, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.models import AgreementIn, AgreementView

router = APIRouter(tags=["deadlines"])


@router.get("/v1/agreements", response_model=list[AgreementView], responses=problems(AUTHENTICATED))
async def list_agreements(node: NodeDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every version of every cooperation agreement this node knows."""
    return node.agreements.to_dicts()


@router.post("/v1/agreements", status_code=202, response_model=AgreementView,
             responses=problems(PERMITTED, document.BODY, 409), openapi_extra=document.body(AgreementIn),
             tags=["admin"])
async def add_agreement(request: Request, node: NodeDep, principal: AdminPrincipal) -> dict[str, Any]:
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
    await _publish_agreement(node, agreement, body)
    return agreement.to_dict()


async def _publish_agreement(node: Node, agreement: Agreement, body: bytes) -> None:
    """Announce the signed agreement to the federation (the unit of work queues it for the agreements topic) and
    wake the relay."""
    async with node.uow() as uow:
        uow.record(AgreementAnnounced(agreement.id, agreement.version, body))
    node.relay.wake()
