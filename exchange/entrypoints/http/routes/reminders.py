"""Reminders emitted for the caller's counties (a deadline near, or passed)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from exchange.adapters.sql.tables import reminders
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.deps import NodeDep, ReadingPrincipal
from exchange.entrypoints.http.document import PARAMETERS, PERMITTED, problems

#: No response model yet: the answer is undocumented in the OpenAPI document, as before.
router = APIRouter(tags=["deadlines"])


@router.get("/v1/reminders", response_model=None, responses=problems(PERMITTED, PARAMETERS))
async def list_reminders(node: NodeDep, principal: ReadingPrincipal,
                         county: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    """Reminders emitted for the caller's counties, newest first."""
    counties = counties_for(principal, node.settings.served, county)
    async with node.engine.connect() as conn:
        rows = (await conn.execute(select(reminders).where(reminders.c.receiver.in_(counties))
                                   .order_by(reminders.c.emitted_at.desc()).limit(500))).all()
    return [{"message_id": r.message_id, "sender": r.sender, "kind": r.kind, "receiver": r.receiver,
             "due_at": r.due_at.isoformat(), "fire_at": r.fire_at.isoformat(),
             "emitted_at": r.emitted_at.isoformat()} for r in rows]
