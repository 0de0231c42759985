"""A county's webhook subscriptions, as the admin API and `mpx webhooks` manage them, and their delivery log.

The secret (Standard Webhooks ``whsec_…``) is made here, shown once and kept sealed at rest with the payload keys.
Creating, pausing, resuming and retrying leave a line in the evidence chain naming who acted, never the secret, in
the transaction that makes the change. Callers pass the counties the acting principal may act for: a subscription
of any other county is not found.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.sql.tables import webhook_attempts, webhook_deliveries, webhook_subscriptions
from exchange.adapters.unit_of_work import SqlUnitOfWorkFactory
from exchange.domain.clock import utcnow
from exchange.domain.events import Noted
from exchange.domain.webhooks import SECRET_BYTES, State, WebhookDeliveryState, WebhookKind

S, D, A = webhook_subscriptions.c, webhook_deliveries.c, webhook_attempts.c
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def subscription_view(row: Any) -> dict[str, Any]:  # noqa: ANN401 - a row
    """A subscription as listed: never its secret."""
    return {"id": row.id, "county": row.county, "url": row.url, "kinds": row.kinds.split(","), "state": row.state,
            "disabled_reason": row.disabled_reason, "failing_since": _iso(row.failing_since),
            "created_at": _iso(row.created_at), "created_by": row.created_by}


def delivery_view(row: Any, attempts: list[Any]) -> dict[str, Any]:  # noqa: ANN401 - rows
    """A delivery and every attempt: status, duration and error, never the payload."""
    return {"seq": row.seq, "event_id": row.event_id, "type": row.type, "county": row.county,
            "message_id": row.message_id, "state": row.state, "attempts": row.attempts,
            "created_at": _iso(row.created_at), "next_attempt_at": _iso(row.next_attempt_at)
            if row.state == WebhookDeliveryState.PENDING else None, "finished_at": _iso(row.finished_at),
            "log": [{"attempt": a.attempt, "at": _iso(a.at), "status": a.status, "duration_ms": a.duration_ms,
                     "outcome": a.outcome, "error": a.error} for a in attempts]}


class WebhookStore:
    def __init__(self, engine: AsyncEngine, uow: SqlUnitOfWorkFactory, cipher: PayloadCipher):
        self.engine, self.uow, self.cipher = engine, uow, cipher

    async def create(self, county: str, url: str, kinds: Iterable[WebhookKind], *,
                     by: str) -> tuple[dict[str, Any], str]:
        """A new active subscription and its secret (returned here only)."""
        ident = f"wh_{secrets.token_hex(8)}"
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
        chosen = ",".join(sorted({WebhookKind(k).value for k in kinds}))
        async with self.uow() as uow:
            await uow.conn.execute(insert(webhook_subscriptions).values(
                id=ident, county=county, url=url, secret=self.cipher.seal(secret, ident), kinds=chosen,
                state=State.ACTIVE.value, created_at=utcnow(), created_by=by[:64]))
            uow.record(Noted("webhook_created", county=county, principal=by[:64],
                             detail={"subscription": ident, "kinds": chosen.split(",")}))
        view = await self.get(ident, [county])
        assert view is not None
        return view, secret

    async def list(self, counties: Iterable[str]) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(webhook_subscriptions).where(S.county.in_(sorted(counties)))
                                      .order_by(S.county, S.created_at, S.id))
            return [subscription_view(r) for r in rows]

    async def get(self, ident: str, counties: Iterable[str]) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(webhook_subscriptions).where(
                S.id == ident, S.county.in_(sorted(counties))))).first()
        return subscription_view(row) if row else None

    async def set_state(self, ident: str, counties: Iterable[str], state: State, *, by: str
                        ) -> dict[str, Any] | None:
        """Pause (held events wait), or resume (held and disabled alike: delivery starts again, in order)."""
        values: dict[str, Any] = {"state": state.value}
        if state is State.ACTIVE:
            values |= {"disabled_reason": None, "failing_since": None}
        async with self.uow() as uow:
            row = (await uow.conn.execute(update(webhook_subscriptions).where(
                S.id == ident, S.county.in_(sorted(counties))).values(**values).returning(S.county))).first()
            if row is None:
                return None
            uow.record(Noted("webhook_paused" if state is State.PAUSED else "webhook_resumed", county=row.county,
                             principal=by[:64], detail={"subscription": ident}))
        return await self.get(ident, counties)

    async def deliveries(self, ident: str, counties: Iterable[str], *, state: WebhookDeliveryState | None = None,
                         limit: int = 100) -> list[dict[str, Any]] | None:
        """The subscription's deliveries, newest first, each with its attempts (None: no such subscription)."""
        if await self.get(ident, counties) is None:
            return None
        async with self.engine.connect() as conn:
            query = select(webhook_deliveries).where(D.subscription_id == ident)
            if state is not None:
                query = query.where(D.state == state.value)
            rows = (await conn.execute(query.order_by(D.seq.desc()).limit(limit))).all()
            attempts: dict[int, list[Any]] = {r.seq: [] for r in rows}
            if rows:
                for a in await conn.execute(select(webhook_attempts).where(A.delivery_seq.in_(list(attempts)))
                                            .order_by(A.seq)):
                    attempts[a.delivery_seq].append(a)
        return [delivery_view(r, attempts[r.seq]) for r in rows]

    async def retry(self, ident: str, counties: Iterable[str], *, seq: int | None = None,
                    since: datetime | None = None, by: str) -> int | None:
        """Send failed deliveries again (one, by `seq`, or all failed since `since`), from a fresh schedule, in their
        order; returns how many (None: no such subscription)."""
        if await self.get(ident, counties) is None:
            return None
        now = utcnow()
        where = [D.subscription_id == ident, D.state == WebhookDeliveryState.FAILED.value]
        where.append(D.seq == seq if seq is not None else D.created_at >= (since or EPOCH))
        async with self.uow() as uow:
            result = await uow.conn.execute(update(webhook_deliveries).where(*where).values(
                state=WebhookDeliveryState.PENDING.value, attempts=0, next_attempt_at=now, finished_at=None))
            count = max(result.rowcount, 0)
            if count:
                county = await uow.conn.scalar(select(S.county).where(S.id == ident))
                uow.record(Noted("webhook_retried", county=county, principal=by[:64],
                                 detail={"subscription": ident, "deliveries": count, "seq": seq,
                                         "since": _iso(since)}))
        return count
