"""To-do items due today or overdue, told to the counties' webhook subscriptions (``todo.due_soon``,
``todo.overdue``): the to-do list (exchange/service/worklist.py) is asked every interval, and each item is announced
once per status and due time (the notice's key; the webhook outbox keeps one delivery per key)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from exchange.domain.clock import utcnow
from exchange.domain.events import CountyNotice
from exchange.domain.worklist import Kind, LiveStatus
from exchange.service.unit_of_work import UnitOfWorkFactory
from exchange.service.worklist import Worklist

log = logging.getLogger(__name__)
ANNOUNCED = {LiveStatus.DUE_TODAY: "todo.due_soon", LiveStatus.OVERDUE: "todo.overdue"}


class DueAnnouncer:
    def __init__(self, uow: UnitOfWorkFactory, worklist: Worklist, counties: Iterable[str], *, limit: int,
                 clock: Callable[[], datetime] = utcnow):
        self.uow, self.worklist, self.counties = uow, worklist, sorted(counties)
        self.limit, self.clock = limit, clock

    async def announce(self) -> int:
        """Record a notice for each item due today or overdue (the first `limit` of each); returns how many."""
        now = self.clock()
        notices = []
        for status, event_type in ANNOUNCED.items():
            page = await self.worklist.page(counties=self.counties, kind=None, status=status, urgency=None,
                                            cursor=None, limit=self.limit, now=now)
            notices += [CountyNotice(item["county"], event_type, item["sender"], item["receiver"], item["message_id"],
                                     item, key=f"{event_type}|{item['kind']}|{item['sender']}|{item['message_id']}|"
                                               f"{item['due_at']}")
                        for item in page["items"] if item["kind"] != Kind.WEBHOOK_FAILED]
        if notices:
            async with self.uow() as uow:
                uow.record(*notices)
        return len(notices)

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.announce()
            except SQLAlchemyError as exc:
                log.warning("announcing due to-do items failed (%s)", type(exc).__name__)
            await asyncio.sleep(interval)
