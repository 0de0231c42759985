"""Cooperation agreements (区域协作协议): every version this node knows, and publishing one (admin)."""

from typing import Any

from fastapi import APIRouter, Request

from exchange.entrypoints.http import document
from exchange.entrypoints.http.deps import AdminPrincipal, AgreementPublisherDep, CurrentPrincipal, NodeDep
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
async def add_agreement(request: Request, publisher: AgreementPublisherDep, principal: AdminPrincipal
                        ) -> dict[str, Any]:
    """Publish an agreement (a new id, or a new version of one) to every node of the federation (admin)."""
    posted = await parse_body(request, AgreementIn)
    return (await publisher.publish(posted.model_dump(mode="json"))).to_dict()
