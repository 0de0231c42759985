"""Operations over HTTP: quarantined records and their replay, reconciliation runs and their findings.

Listings carry no payload and no headers: a quarantined record may hold
personal data, and operators need only where it came from and why it was set
aside. Replaying a record and starting a reconciliation change what the node
does, so they need the admin token (``MPX_ADMIN_TOKEN``, ``Authorization:
Bearer …``); with no token configured they are refused. (Per-user
authentication of operators is a later issue.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from contracts import today_in_china
from exchange.config import Settings
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import jurisdiction
from exchange.entrypoints.http.deps import AdminPrincipal, NodeDep, QueriesDep, ReadingPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.models import (
    FIRST_DAY,
    Day,
    QuarantinePage,
    ReconciliationReport,
    ReconciliationRun,
    Replayed,
)

#: Sequence numbers are 64-bit in the database.
MAX_SEQ = 2**63 - 1


def router(settings: Settings) -> APIRouter:
    """The routes; `settings` bounds a page of the quarantine (MPX_PAGE_MAX, in the document)."""
    api = APIRouter(tags=["operations"])

    @api.get("/v1/quarantine", response_model=QuarantinePage, responses=problems(PERMITTED, PARAMETERS))
    async def list_quarantine(
        node: NodeDep,
        queries: QueriesDep,
        principal: ReadingPrincipal,
        after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="Only records after this seq (paging).")
                         ] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
    ) -> dict[str, Any]:
        """Records this node could never process: where they came from and why; never their content. A county's
        key sees the records addressed to its counties (the record key); an admin sees all."""
        return await queries.quarantine_page(counties=jurisdiction(principal, node.settings.served), after=after,
                                             limit=limit)

    @api.post("/v1/quarantine/{seq}/replay", response_model=Replayed, responses=problems(PERMITTED, PARAMETERS, 404))
    async def replay_quarantined(seq: Annotated[int, Path(ge=1, le=MAX_SEQ)], node: NodeDep, queries: QueriesDep,
                                 principal: AdminPrincipal) -> dict[str, Any]:
        """Process a quarantined record again, after a fix (a newer schema version known, a bug mended). Admin."""
        try:
            if not await queries.quarantined(seq):  # an unknown seq is answered without reading the keys topic first
                raise KeyError(seq)
            result, message_id, sent = await node.inbound.replay(seq)
        except KeyError:
            raise Problem("not_found", f"no quarantined record {seq}", f"没有编号为 {seq} 的隔离记录") from None
        if sent:
            node.wake_relay()
        if result not in ("stored", "duplicate"):
            raise Problem("replay_rejected", f"rejected again: {result}", f"仍被拒绝：{result}")
        return {"seq": seq, "result": result, "message_id": message_id}

    @api.post("/v1/reconciliation/run", status_code=202, response_model=ReconciliationRun,
              responses=problems(PERMITTED, PARAMETERS))
    async def run_reconciliation(
        node: NodeDep,
        principal: AdminPrincipal,
        day: Annotated[Day | None, Query(ge=FIRST_DAY, description="China day to digest; default today (so far).")
                       ] = None,
    ) -> dict[str, Any]:
        """Send every peer county the digest of what this node's counties sent it that day. Admin."""
        if day is not None and day > today_in_china():
            raise Problem("validation_failed", "day is in the future", "日期不能晚于今天")
        return await node.reconciler.run(day)

    @api.get("/v1/reconciliation", response_model=ReconciliationReport, responses=problems(PERMITTED, PARAMETERS))
    async def get_reconciliation(
        node: NodeDep,
        principal: ReadingPrincipal,
        day: Annotated[Day | None, Query(description="Only this China day.")] = None,
        peer: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Only this peer county.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Digests sent and checked, resend requests served; a checked digest with ids missing is a gap until they
        arrive (status gap → healed). A county's key sees its counties' own; an admin all."""
        return await node.reconciler.report(day=day, peer=peer, limit=limit,
                                            counties=jurisdiction(principal, node.settings.served))

    return api
