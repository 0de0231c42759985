"""The webhook dispatcher: sends the deliveries the unit of work stored, one subscription at a time per process.

Several processes of one node may share one database; each runs a dispatcher. A dispatcher **claims a
subscription** (``claimed_by`` = its instance, ``claim_expires_at`` = now + lease, in one conditional UPDATE, so two
never hold it at once) and, while it holds it, sends that subscription's deliveries one at a time in the order they
were stored: the head of the queue first, the next only once the head is delivered or failed (the rules are
exchange/domain/webhooks.py). It renews the claim after each attempt and gives it back when nothing is due. A
dispatcher killed mid-delivery leaves its claim to expire; the delivery it was sending was not marked, so it is sent
again with the same ``webhook-id`` (a receiver that remembers ids drops the copy).

Each POST carries the Standard Webhooks headers, signed with the `standardwebhooks` library over the exact body
sent; ``webhook-timestamp`` is the machine's own clock (receivers check it against theirs), while the schedule
follows the node's clock (`clock`, which tests move).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from exchange.adapters.crypto.payload_crypto import PayloadCipher, PayloadKeyMissing
from exchange.adapters.sql.database import writing
from exchange.adapters.sql.tables import webhook_attempts, webhook_deliveries, webhook_subscriptions
from exchange.domain.clock import utcnow, wall_clock
from exchange.domain.webhooks import Outcome, State, WebhookDeliveryState, answer, gives_up, next_attempt

log = logging.getLogger(__name__)
S, D = webhook_subscriptions.c, webhook_deliveries.c

#: Posts a body with headers to a URL: (status, error).
Poster = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int | None, str | None]]]
#: The message a record or feedback event is about, as GET /v1/inbox shows it: (sender, receiver, id) -> item.
Describe = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]


class Counts(Protocol):
    def webhook(self, outcome: str, county: str) -> None: ...


class Dispatcher:
    def __init__(self, engine: AsyncEngine, post: Poster, describe: Describe, cipher: PayloadCipher, metrics: Counts,
                 *, instance: str, disable_after: timedelta, idle_seconds: float = 1.0, lease_seconds: float = 60.0,
                 clock: Callable[[], datetime] = utcnow, jitter: Callable[[], float] = random.random,
                 per_round: int = 100):
        self.engine, self.post, self.describe, self.cipher, self.metrics = engine, post, describe, cipher, metrics
        self.instance = instance[:128]
        self.disable_after = disable_after
        self.idle_seconds = idle_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.clock, self.jitter = clock, jitter
        self.per_round = per_round  # attempts per subscription before its claim is given back for a round
        self.wakeup = asyncio.Event()
        self._stop = asyncio.Event()

    def wake(self) -> None:
        self.wakeup.set()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.set()

    async def run(self) -> None:
        self._stop.clear()
        while not self._stop.is_set():
            try:
                attempts = await self.deliver_once()
            # The database away, or a secret sealed with a payload key not configured: an operator's fix; the
            # deliveries stay stored and are tried again.
            except (SQLAlchemyError, OSError, PayloadKeyMissing, InvalidTag) as exc:
                log.warning("webhook dispatch failed (%s); trying again", type(exc).__name__)
                attempts = 0
            if not attempts:
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)
                except TimeoutError:
                    pass
                self.wakeup.clear()

    async def deliver_once(self) -> int:
        """One round: claim the subscriptions whose head delivery is due, send each one's due deliveries in order
        (subscriptions side by side); returns the attempts made."""
        claimed = await self._claim()
        done = await asyncio.gather(*(self._drain(ident) for ident in claimed))
        return sum(done)

    async def _claim(self) -> list[str]:
        now = self.clock()
        free = or_(S.claimed_by.is_(None), S.claim_expires_at < now, S.claimed_by == self.instance)
        earlier = webhook_deliveries.alias("earlier")
        head_due = select(D.seq).where(
            D.subscription_id == S.id, D.state == WebhookDeliveryState.PENDING.value, D.next_attempt_at <= now,
            ~select(earlier.c.seq).where(earlier.c.subscription_id == D.subscription_id,
                                         earlier.c.state == WebhookDeliveryState.PENDING.value,
                                         earlier.c.seq < D.seq).exists()).exists()
        async with writing(self.engine) as conn:
            rows = await conn.execute(update(webhook_subscriptions).where(
                S.state == State.ACTIVE.value, free, head_due).values(
                claimed_by=self.instance, claim_expires_at=now + self.lease).returning(S.id))
            return [r.id for r in rows]

    async def _drain(self, ident: str) -> int:
        attempts = 0
        try:
            while attempts < self.per_round and not self._stop.is_set():
                if not await self._attempt(ident):
                    break
                attempts += 1
        finally:
            async with writing(self.engine) as conn:
                await conn.execute(update(webhook_subscriptions).where(
                    S.id == ident, S.claimed_by == self.instance).values(claimed_by=None, claim_expires_at=None))
        return attempts

    async def _attempt(self, ident: str) -> bool:
        """Send the subscription's head delivery if it is due; False when there is none (or it is not active)."""
        async with self.engine.connect() as conn:
            sub = (await conn.execute(select(webhook_subscriptions).where(
                S.id == ident, S.state == State.ACTIVE.value, S.claimed_by == self.instance))).first()
            head = None if sub is None else (await conn.execute(select(webhook_deliveries).where(
                D.subscription_id == ident, D.state == WebhookDeliveryState.PENDING.value)
                .order_by(D.seq).limit(1))).first()
        if head is None or head.next_attempt_at > self.clock():
            return False
        body = await self._body(head)
        sent_at = wall_clock()
        signer = Webhook(self.cipher.open(sub.secret, sub.id))
        headers = {"content-type": "application/json", "webhook-id": head.event_id,
                   "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": signer.sign(head.event_id, sent_at, body)}
        started = time.monotonic()
        status, error = await self.post(sub.url, body, headers)
        duration = round((time.monotonic() - started) * 1000)
        await self._record(sub, head, status, error, duration)
        return True

    async def _body(self, head: Any) -> bytes:  # noqa: ANN401 - a delivery row
        """The event's JSON as Standard Webhooks shapes it: ``type``, ``timestamp`` (when it happened), ``data``."""
        data: dict[str, Any] = {"county": head.county, "sender": head.sender, "receiver": head.receiver,
                                "message_id": head.message_id}
        body = orjson.loads(head.body) if head.body else None
        if head.type in ("record.received", "feedback.received"):
            data["message"] = await self.describe(head.sender, head.receiver, head.message_id)
        elif head.type.startswith("obligation."):
            data["obligation"] = body
        elif head.type.startswith("todo."):
            data["item"] = body
        elif body:
            data.update(body)
        return orjson.dumps({"type": head.type, "timestamp": head.created_at.isoformat(), "data": data})

    async def _record(self, sub: Any, head: Any, status: int | None, error: str | None,  # noqa: ANN401 - rows
                      duration: int) -> None:
        now = self.clock()
        made = head.attempts + 1
        outcome = answer(status, made)
        delivery: dict[str, Any] = {"attempts": made, "last_status": status, "last_error": error}
        subscription: dict[str, Any] = {"claim_expires_at": now + self.lease}
        if outcome is Outcome.DELIVERED:
            delivery |= {"state": WebhookDeliveryState.DELIVERED.value, "finished_at": now}
            subscription["failing_since"] = None
        elif outcome is Outcome.RETRY:
            delivery["next_attempt_at"] = next_attempt(made, now, self.jitter())
        else:
            delivery |= {"state": WebhookDeliveryState.FAILED.value, "finished_at": now}
        if outcome is not Outcome.DELIVERED:
            failing_since = sub.failing_since or now
            subscription["failing_since"] = failing_since
            if outcome is Outcome.GONE:
                subscription |= {"state": State.DISABLED.value,
                                 "disabled_reason": "接收方答复 410 Gone，不再推送 the receiver answered 410 Gone"}
            elif gives_up(failing_since, now, self.disable_after):
                subscription |= {"state": State.DISABLED.value, "disabled_reason":
                                 f"自 {failing_since.isoformat()} 起持续失败 failing since {failing_since.isoformat()} "
                                 f"(last: {error or status})"[:300]}
        async with writing(self.engine) as conn:
            await conn.execute(insert(webhook_attempts).values(
                delivery_seq=head.seq, attempt=made, at=now, status=status, duration_ms=duration,
                outcome=outcome.value, error=error))
            await conn.execute(update(webhook_deliveries).where(
                and_(D.seq == head.seq, D.state == WebhookDeliveryState.PENDING.value)).values(**delivery))
            await conn.execute(update(webhook_subscriptions).where(S.id == sub.id).values(**subscription))
        self.metrics.webhook(outcome.value, head.county)
        if outcome is not Outcome.DELIVERED:
            log.warning("webhook %s to subscription %s: attempt %d %s (%s)", head.event_id, sub.id, made,
                        outcome.value, error)
