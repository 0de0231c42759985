"""A county's to-do list (待办): the items of every kind its counties must act on, soonest due first, a page at a
time (keyset pagination on the items' position: due time, kind, sender, id).

Each kind has an item source (`ItemSource`): it reads its own tables and answers, in the list's order, the first
items after a position that match the filters. The list merges what the sources answer. A new kind is a new member
of `domain.worklist.Kind` and one more source in `Node.worklist` (exchange/bootstrap.py).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import REQUEST_TYPES, MessageType
from contracts.payloads.verification import Urgency
from exchange.adapters.sql.tables import messages, obligations, roster_discrepancies, webhook_deliveries
from exchange.domain.clock import SHANGHAI, as_utc
from exchange.domain.commands import ID_PATTERN
from exchange.domain.delivery import Direction
from exchange.domain.problems import Problem
from exchange.domain.webhooks import WebhookDeliveryState
from exchange.domain.worklist import (
    KIND_LABELS,
    STATUS_LABELS,
    AnswerDeadline,
    Item,
    Kind,
    LiveStatus,
    Position,
    clarification_step,
    feedback_step,
    live_status,
    roster_due,
    roster_step,
    status_window,
    verification_step,
    webhook_step,
)


@dataclass(frozen=True)
class Ask:
    """What a page asks of each source: items of `counties` after `after`, at most `limit`, with `status` and
    `urgency` if given, as of `now`."""

    counties: Sequence[str]
    status: LiveStatus | None
    urgency: Urgency | None
    after: Position | None
    limit: int
    now: datetime


class ItemSource(Protocol):
    """The items of one kind."""

    kind: Kind

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        """At most `ask.limit` items matching `ask`, in the list's order (`Item.position`)."""
        ...


class Worklist:
    def __init__(self, engine: AsyncEngine, sources: Sequence[ItemSource]):
        self.engine = engine
        self.sources = sources

    async def page(self, *, counties: Sequence[str], kind: Kind | None, status: LiveStatus | None,
                   urgency: Urgency | None, cursor: str | None, limit: int, now: datetime) -> dict[str, Any]:
        """The counties' items, soonest due first: a page of `limit` after `cursor`, with the cursor to read on."""
        ask = Ask(counties, status, urgency, decode_position(cursor) if cursor else None, limit + 1, now)
        async with self.engine.connect() as conn:
            found = [await source.items(conn, ask) for source in self.sources if kind in (None, source.kind)]
        merged = list(heapq.merge(*found, key=lambda item: item.position))[:limit + 1]
        page = merged[:limit]
        return {"as_of": now.isoformat(), "items": [item_view(item) for item in page],
                "next_cursor": encode_position(page[-1].position) if page else cursor,
                "has_more": len(merged) > limit}


def after(position: Position | None, kind: Kind, due_at: Any, sender: Any, message_id: Any) -> ColumnElement[bool]:
    """Rows of `kind` that come after `position` in the list (columns `due_at`, `sender`, `message_id`)."""
    if position is None:
        return true()
    if kind.value != position.kind:  # another kind at the same due time sorts by kind
        return due_at >= position.due_at if kind.value > position.kind else due_at > position.due_at
    return or_(due_at > position.due_at, and_(due_at == position.due_at, or_(
        sender > position.sender, and_(sender == position.sender, message_id > position.message_id))))


#: A cursor: the last item's position as `<due time in microseconds since 1970>.<kind>.<sender>.<id>`. Every text of
#: this shape names a position (ordering needs no more), so the document's pattern is the whole rule (ST202).
CURSOR_PATTERN = r"^[0-9]{1,16}\.[a-z_]{1,32}\.[0-9]{6}\." + ID_PATTERN.strip("^$") + "$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_position(position: Position) -> str:
    micros = (position.due_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{position.kind}.{position.sender}.{position.message_id}"


def decode_position(cursor: str) -> Position:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise Problem("invalid_cursor")
    micros, kind, sender, message_id = cursor.split(".", 3)
    return Position(_EPOCH + timedelta(microseconds=int(micros)), kind, sender, message_id)


class FeedbackItems:
    """Records received awaiting feedback: the counties' open obligations (answered or cancelled ones are done); a
    paused one waits for the sender's clarification. With `requests`, the verification requests (协查) awaiting their
    next step instead, filtered by urgency."""

    def __init__(self, requests: bool = False):
        self.requests = requests
        self.kind = Kind.VERIFICATION if requests else Kind.FEEDBACK

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        if ask.urgency is not None and not self.requests:
            return []
        c = obligations.c
        query = select(c.message_id, c.message_type, c.sender, c.receiver, c.received_at, c.due_at, c.provisional,
                       c.paused, c.urgency).where(
            c.receiver.in_(ask.counties), c.answered_at.is_(None), c.cancelled_at.is_(None),
            (c.message_type.in_ if self.requests else c.message_type.not_in)(sorted(REQUEST_TYPES)),
            after(ask.after, self.kind, c.due_at, c.sender, c.message_id))
        if ask.urgency is not None:
            query = query.where(c.urgency == ask.urgency.value)
        if ask.status is LiveStatus.WAITING:
            query = query.where(c.paused.is_(True))
        elif ask.status is not None:
            window = status_window(ask.status, ask.now)
            query = query.where(c.paused.is_(False))
            if window.after is not None:
                query = query.where(c.due_at > window.after)
            if window.until is not None:
                query = query.where(c.due_at <= window.until)
        rows = await conn.execute(query.order_by(c.due_at, c.sender, c.message_id).limit(ask.limit))
        step = verification_step if self.requests else feedback_step
        return [Item(self.kind, r.message_id, r.sender, r.receiver, r.receiver, r.message_type,
                     as_utc(r.received_at), as_utc(r.due_at), r.provisional,
                     live_status(as_utc(r.due_at), ask.now, waiting=r.paused),
                     step(r.message_id, r.sender, waiting=r.paused),
                     urgency=Urgency(r.urgency) if r.urgency else None) for r in rows]


class RosterItems:
    """The monthly roster check's open discrepancies on one side (`kind`): at the registration county the persons its
    roster listed and the residence county did not find there, at the residence county those it answered as left,
    never arrived or unknown. Each is due when the next month's check may run (`cutoff_day`); a return cancellation
    resolves it. `message_id` is the registration the discrepancy is about, `sender` and `receiver` its counties."""

    def __init__(self, kind: Kind, cutoff_day: int):
        self.kind, self.cutoff_day = kind, cutoff_day
        self.side = "registration" if kind is Kind.ROSTER_REGISTRATION else "residence"

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        if ask.urgency is not None or ask.status is LiveStatus.WAITING:
            return []
        c = roster_discrepancies.c
        acting = c.registration_county if self.kind is Kind.ROSTER_REGISTRATION else c.residence_county
        rows = await conn.execute(select(c.month, c.registration_county, c.residence_county, c.registration_id,
                                         c.roster_id, c.found_at).where(
            c.side == self.side, c.resolved_at.is_(None), acting.in_(ask.counties)))
        items = []
        for r in rows:
            due_at = roster_due(r.month, self.cutoff_day)
            county = r.registration_county if self.kind is Kind.ROSTER_REGISTRATION else r.residence_county
            items.append(Item(self.kind, r.registration_id, r.registration_county, r.residence_county, county,
                              MessageType.ROSTER.value, as_utc(r.found_at), due_at, False,
                              live_status(due_at, ask.now), roster_step(self.kind, r.month), record_id=r.roster_id))
        return _asked(items, ask)


class ClarificationItems:
    """Clarification requests received about records the counties sent, not answered yet (nor made moot: the record
    answered or withdrawn meanwhile); the answer is due by `deadline`."""

    kind = Kind.CLARIFICATION

    def __init__(self, deadline: AnswerDeadline):
        self.deadline = deadline

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        if ask.urgency is not None or ask.status is LiveStatus.WAITING:
            return []
        c, record = messages.c, messages.alias("record")
        done = exists().where(record.c.id == c.in_reply_to, record.c.direction == Direction.OUT,
                              record.c.sender == c.receiver, record.c.receiver == c.sender,
                              or_(record.c.answered_at.is_not(None), record.c.withdrawn_at.is_not(None)))
        rows = await conn.execute(select(c.id, c.sender, c.receiver, c.type, c.in_reply_to, c.created_at).where(
            c.direction == Direction.IN, c.type == MessageType.CLARIFICATION_REQUEST,
            c.receiver.in_(ask.counties), c.answered_at.is_(None), ~done))
        items = []
        for r in rows:
            received_at = as_utc(r.created_at)
            due = self.deadline.due(r.receiver, received_at)
            items.append(Item(self.kind, r.id, r.sender, r.receiver, r.receiver, r.type, received_at, due.due_at,
                              due.provisional, live_status(due.due_at, ask.now), clarification_step(r.id, r.sender),
                              record_id=r.in_reply_to))
        return _asked(items, ask)


class WebhookFailedItems:
    """Webhook deliveries given up after their last retry (推送失败), overdue since they failed; a retry (or a
    delivery at last) takes them off. `message_id` is the event's webhook-id, `record_id` the message it is about."""

    kind = Kind.WEBHOOK_FAILED

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        if ask.urgency is not None or ask.status is LiveStatus.WAITING:
            return []
        c = webhook_deliveries.c
        rows = await conn.execute(select(c.seq, c.subscription_id, c.event_id, c.county, c.type, c.message_id,
                                         c.created_at, c.finished_at).where(
            c.county.in_(ask.counties), c.state == WebhookDeliveryState.FAILED.value))
        items = [Item(self.kind, r.event_id, r.county, r.county, r.county, r.type, as_utc(r.created_at),
                      as_utc(r.finished_at), False, live_status(as_utc(r.finished_at), ask.now),
                      webhook_step(r.subscription_id, r.seq), record_id=r.message_id) for r in rows]
        return _asked(items, ask)


def _asked(items: list[Item], ask: Ask) -> list[Item]:
    """Of items whose due time is reckoned here, not in SQL: those after the cursor with the status asked, in the
    list's order, at most `ask.limit`."""
    wanted = [i for i in items if (ask.after is None or i.position > ask.after) and ask.status in (None, i.status)]
    return sorted(wanted, key=lambda item: item.position)[:ask.limit]


def item_view(item: Item) -> dict[str, Any]:
    """An item as the API shows it: ids, codes and times, never a personal field."""
    return {"kind": item.kind.value, "kind_label": KIND_LABELS[item.kind], "message_id": item.message_id,
            "record_id": item.record_id, "sender": item.sender, "receiver": item.receiver, "county": item.county,
            "message_type": item.message_type, "received_at": item.received_at.isoformat(),
            "due_at": item.due_at.astimezone(SHANGHAI).isoformat(), "provisional": item.provisional,
            "status": item.status.value, "status_label": STATUS_LABELS[item.status], "urgency": item.urgency.value if item.urgency else None,
            "next": {"action": item.next.action, "zh": item.next.zh, "en": item.next.en, "method": item.next.method,
                     "href": item.next.href}}

