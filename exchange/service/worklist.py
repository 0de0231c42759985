"""A county's to-do list (待办): the items of every kind its counties must act on, soonest due first, a page at a
time (keyset pagination on the items' position: due time, kind, sender, id).

Each kind has an item source (`ItemSource`): it reads its own tables and answers, in the list's order, the first
items after a position that match the filters. The list merges what the sources answer. A new kind (verification
requests, roster discrepancies) is a new member of `domain.worklist.Kind` and one more source in `Node.worklist`
(exchange/bootstrap.py); nothing here changes.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import MessageType
from exchange.adapters.sql.tables import messages, obligations
from exchange.domain.clock import SHANGHAI, as_utc
from exchange.domain.commands import ID_PATTERN
from exchange.domain.delivery import Direction
from exchange.domain.problems import Problem
from exchange.domain.worklist import (
    KIND_LABELS,
    STATUS_LABELS,
    AnswerDeadline,
    Item,
    Kind,
    LiveStatus,
    Position,
    Urgency,
    clarification_step,
    feedback_step,
    live_status,
    status_window,
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


def encode_position(position: Position) -> str:
    raw = orjson.dumps([position.due_at.isoformat(), position.kind, position.sender, position.message_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: What a position's texts may be (a cursor comes from the caller: nothing else reaches the database).
_POSITION = re.compile(r"[a-z_]{1,32}/[0-9]{6}/" + ID_PATTERN.strip("^$"))


def decode_position(cursor: str) -> Position:
    try:
        due_at, kind, sender, message_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not _POSITION.fullmatch(f"{kind}/{sender}/{message_id}"):
            raise ValueError
        return Position(as_utc(datetime.fromisoformat(due_at)), kind, sender, message_id)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise Problem("invalid_cursor") from None


class FeedbackItems:
    """Records received awaiting feedback: the counties' open obligations (answered or cancelled ones are done); a
    paused one waits for the sender's clarification."""

    kind = Kind.FEEDBACK

    async def items(self, conn: AsyncConnection, ask: Ask) -> list[Item]:
        if ask.urgency is not None:
            return []
        c = obligations.c
        query = select(c.message_id, c.message_type, c.sender, c.receiver, c.received_at, c.due_at, c.provisional,
                       c.paused).where(c.receiver.in_(ask.counties), c.answered_at.is_(None),
                                       c.cancelled_at.is_(None),
                                       after(ask.after, self.kind, c.due_at, c.sender, c.message_id))
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
        return [Item(self.kind, r.message_id, r.sender, r.receiver, r.receiver, r.message_type,
                     as_utc(r.received_at), as_utc(r.due_at), r.provisional,
                     live_status(as_utc(r.due_at), ask.now, waiting=r.paused),
                     feedback_step(r.message_id, r.sender, waiting=r.paused)) for r in rows]


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
            item = Item(self.kind, r.id, r.sender, r.receiver, r.receiver, r.type, received_at, due.due_at,
                        due.provisional, live_status(due.due_at, ask.now), clarification_step(r.id, r.sender),
                        record_id=r.in_reply_to)
            if (ask.after is None or item.position > ask.after) and ask.status in (None, item.status):
                items.append(item)
        return sorted(items, key=lambda item: item.position)[:ask.limit]


def item_view(item: Item) -> dict[str, Any]:
    """An item as the API shows it: ids, codes and times, never a personal field."""
    return {"kind": item.kind.value, "kind_label": KIND_LABELS[item.kind], "message_id": item.message_id,
            "record_id": item.record_id, "sender": item.sender, "receiver": item.receiver, "county": item.county,
            "message_type": item.message_type, "received_at": item.received_at.isoformat(),
            "due_at": item.due_at.astimezone(SHANGHAI).isoformat(), "provisional": item.provisional,
            "status": item.status.value, "status_label": STATUS_LABELS[item.status], "urgency": item.urgency.value if item.urgency else None,
            "next": {"action": item.next.action, "zh": item.next.zh, "en": item.next.en, "method": item.next.method,
                     "href": item.next.href}}

