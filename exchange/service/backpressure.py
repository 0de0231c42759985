"""Backpressure: how much the outbox may hold before the node stops accepting.

While the broker is away the node keeps accepting: every 202 is on disk and
the relay publishes it once the broker is back. But a disk is not infinite and
a backlog of days helps nobody, so past ``MPX_OUTBOX_MAX_PENDING`` unpublished
records the node answers **503** problem JSON (``service_unavailable``) with a
``Retry-After`` header, and stores nothing of that request. Clients retry later
with the same message ids, which is safe.

Counting the unpublished records on every request would cost a scan of the
backlog each time; the count is taken at most once a second, and exactly,
inside the accepting transaction, only once the last count says the limit is
near.
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.tables import outbox
from exchange.domain.problems import Problem

#: Below this share of the limit (at the last count) a request is let through without counting.
SAFE_SHARE = 0.8
RECOUNT_SECONDS = 1.0


class OutboxLimit:
    def __init__(self, max_pending: int, broker_away: Callable[[], bool]):
        self.max_pending = max_pending
        self.broker_away = broker_away
        self.pending = 0
        self._counted_at = float("-inf")
        self.refused = 0

    async def __call__(self, conn: AsyncConnection, adding: int) -> None:
        """Raise a 503 Problem if storing `adding` more records would take the outbox past its limit."""
        fresh = time.monotonic() - self._counted_at < RECOUNT_SECONDS
        if fresh and self.pending + adding <= self.max_pending * SAFE_SHARE:
            self.pending += adding
            return
        self.pending = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
        self._counted_at = time.monotonic()
        if self.pending + adding > self.max_pending:
            self.refused += 1
            away = self.broker_away()
            retry_after = 30 if away else 10
            cause_en = "the message broker is unreachable and " if away else ""
            cause_zh = "消息中间件暂时无法连接，" if away else ""
            raise Problem(
                "service_unavailable",
                f"{cause_en}{self.pending} records wait to be published (limit {self.max_pending}); "
                f"nothing was stored, retry after {retry_after}s with the same message ids",
                f"{cause_zh}待发布记录 {self.pending} 条（上限 {self.max_pending}），本次请求未保存；"
                f"请在 {retry_after} 秒后以相同的报文编号重试",
                headers={"Retry-After": str(retry_after)},
            )
        self.pending += adding
