"""What local systems and operators read: one message with its delivery state, feedback and thread, the inbox, the
obligations and reminders of their counties, and the quarantine (where a record came from and why it was set aside,
never its content)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import orjson
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import RECORD_TYPES, MessageType
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.sql.tables import messages, obligations, quarantine, reminders
from exchange.domain.clock import as_utc, utcnow
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.obligation import Status
from exchange.domain.problems import Problem
from exchange.domain.verification import RECEIVED
from exchange.domain.worklist import AnswerDeadline
from exchange.service.obligations import Obligations, obligation_view
from exchange.service.thread import principals, thread


def _summary(row: Row, trust: Trust) -> dict[str, Any]:
    item = {
        "id": row.id,
        "direction": row.direction,
        "type": row.type,
        "schema_version": row.schema_version,
        "sender": row.sender,
        "receiver": row.receiver,
        "state": row.state,
        "in_reply_to": row.in_reply_to,
        "agreement_id": row.agreement_id,
        "accepted_at" if row.direction == Direction.OUT else "received_at": as_utc(row.created_at),
        "published_at": as_utc(row.published_at),
        "delivered_at": as_utc(row.delivered_at),
        "answered_at": as_utc(row.answered_at),
        "withdrawn_at": as_utc(row.withdrawn_at),
    }
    item["envelope"] = orjson.loads(row.envelope)
    item["data"] = orjson.loads(trust.open_payload(row.payload, row.id))
    return item


def one_per_sender(message_id: str, rows: Sequence[Row]) -> Row:
    """The message an id names for a caller who may see `rows` (its copies; several only when they are one
    message, sent and received on this node). Ids are each sending county's own: when counties of the caller
    received this id from more than one sender, 409 sender_required lists those senders (all the caller's
    correspondents), and the caller names one with ``?sender=``."""
    senders = sorted({r.sender for r in rows})
    if len(senders) > 1:
        raise Problem("sender_required", f"messages from {', '.join(senders)} carry id {message_id}: "
                      "add ?sender=<county> to name one",
                      f"{'、'.join(senders)} 发来的报文都使用编号 {message_id}，请用 ?sender=<县区代码> 指明发送地",
                      extensions={"senders": senders})
    return min(rows, key=lambda r: r.direction != Direction.OUT)


#: What the inbox's cursor looks like: the position of the last item of the page, as digits, so that every cursor the
#: document allows is one a node could have given (ST202: a value valid under the document is never refused).
CURSOR_PATTERN = r"^[0-9]{1,18}$"


def encode_cursor(seq: int) -> str:
    return str(seq)


def decode_cursor(cursor: str) -> int:
    if not cursor.isascii() or not cursor.isdigit():
        raise Problem("invalid_cursor")
    return int(cursor)


class Queries:
    def __init__(self, engine: AsyncEngine, served: frozenset[str], trust: Trust, obligations: Obligations,
                 answer_deadline: AnswerDeadline):
        self.engine = engine
        self.served = served
        self.trust = trust  # opens payloads sealed at rest
        self.obligations = obligations  # reckons a verification request's deadline for its requester
        self.answer_deadline = answer_deadline  # when the answer to a clarification request is due (the thread)

    async def message(self, message_id: str, counties: list[str], sender: str | None = None) -> dict[str, Any]:
        """A county's view of one message (sender, id): its own outbound copy first, else its inbound copy; only
        the counterpart's feedback is shown."""
        visible = frozenset(counties)
        query = select(messages).where(messages.c.id == message_id)
        if sender is not None:
            query = query.where(messages.c.sender == sender)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            mine = [
                r for r in rows
                if (r.direction == Direction.OUT and r.sender in visible)
                or (r.direction == Direction.IN and r.receiver in visible)
            ]
            if not mine:
                raise Problem("message_not_found", f"no message {message_id} for this node's counties",
                              f"本节点服务的县区没有编号为 {message_id} 的报文")
            row = one_per_sender(message_id, mine)
            # What its receiver sent about it, in order: feedback, clarification requests (请求补充说明) and, for a
            # verification request, its steps (协查进展); the copies on the other side from this one.
            replies = (
                await conn.execute(
                    select(messages)
                    .where(messages.c.in_reply_to == message_id,
                           messages.c.type.in_([MessageType.FEEDBACK, MessageType.CLARIFICATION_REQUEST,
                                                MessageType.VERIFICATION_STEP]),
                           messages.c.direction != row.direction,
                           messages.c.sender == row.receiver, messages.c.receiver == row.sender)
                    .order_by(messages.c.seq)
                )
            ).all()
            answers = [r for r in replies if r.type == MessageType.FEEDBACK]
            requests = [r for r in replies if r.type == MessageType.CLARIFICATION_REQUEST and row.type in RECORD_TYPES]
            steps = [r for r in replies
                     if r.type == MessageType.VERIFICATION_STEP and row.type == MessageType.VERIFICATION_REQUEST]
            # Its withdrawal (撤回), from its sender to its receiver: the copy on the same side as this one.
            withdrawal = (
                await conn.execute(
                    select(messages)
                    .where(messages.c.in_reply_to == message_id, messages.c.type == MessageType.WITHDRAWAL,
                           messages.c.direction == row.direction,
                           messages.c.sender == row.sender, messages.c.receiver == row.receiver)
                    .order_by(messages.c.seq).limit(1)
                )
            ).first() if row.type in RECORD_TYPES else None
            # Its clarifications (请求补充说明 / 补充说明): each request with its sender's answer.
            clarified = {a.in_reply_to: a for a in (
                await conn.execute(
                    select(messages)
                    .where(messages.c.in_reply_to.in_([r.id for r in requests]),
                           messages.c.type == MessageType.CLARIFICATION,
                           messages.c.direction == row.direction,
                           messages.c.sender == row.sender, messages.c.receiver == row.receiver)
                    .order_by(messages.c.seq)
                )
            ).all()} if requests else {}
            who = await principals(conn, [row, *answers, *requests, *clarified.values(), *steps,
                                          *([withdrawal] if withdrawal is not None else [])])
            obligation = await conn.scalar(
                select(obligations.c.state).where(obligations.c.message_id == message_id,
                                                  obligations.c.sender == row.sender,
                                                  obligations.c.receiver == row.receiver)
            ) if row.direction == Direction.IN else None
        view = _summary(row, self.trust)
        view["feedback"] = [_summary(a, self.trust) for a in answers]
        step_views = [_summary(s, self.trust) for s in steps]
        if withdrawal is not None:
            view["withdrawal"] = _summary(withdrawal, self.trust)
        if row.type in RECORD_TYPES:
            view["clarifications"] = [
                {"request": _summary(r, self.trust),
                 "answer": _summary(clarified[r.id], self.trust) if r.id in clarified else None}
                for r in requests]
            view["thread"] = thread(row, answers, withdrawal, requests, clarified, who, self.answer_deadline, utcnow(),
                                    [(s, v["data"]["step"]) for s, v in zip(steps, step_views)])
        view["obligation"] = obligation_view(obligation, utcnow()) if obligation else None
        if row.type == MessageType.VERIFICATION_REQUEST:
            view["verification"] = self._verification(row, view, step_views)
        return view

    def _verification(self, row: Row, view: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
        """Where a verification request stands (协查进展), for both sides: its urgency, its current step, each step
        with its time, and its deadline (the receiver's obligation's; its requester reckons it from the delivery)."""
        urgency = view["data"]["urgency"]
        delivered = row.direction == Direction.IN or row.delivered_at is not None
        if view["obligation"] is not None:
            due_at = view["obligation"]["due_at"]
        elif delivered:
            due_at = self.obligations.verification_due(row.sender, row.receiver, urgency,
                                                       as_utc(row.delivered_at)).isoformat()
        else:
            due_at = None
        return {
            "urgency": urgency,
            "step": steps[-1]["data"]["step"] if steps else (RECEIVED if delivered else None),
            "due_at": due_at,
            "steps": [{"id": s["id"], "at": s.get("accepted_at") or s.get("received_at"), **s["data"]} for s in steps],
        }

    async def received(self, sender: str, receiver: str, message_id: str) -> dict[str, Any] | None:
        """One message received, as `inbox` lists it (what a webhook for it carries)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(messages).where(
                messages.c.direction == Direction.IN, messages.c.sender == sender, messages.c.receiver == receiver,
                messages.c.id == message_id))).first()
        return _summary(row, self.trust) if row else None

    async def inbox(self, *, counties: list[str], type_: str | None, answered: bool | None,
                    cursor: str | None, limit: int) -> dict[str, Any]:
        query = select(messages).where(messages.c.direction == Direction.IN, messages.c.receiver.in_(counties))
        if type_:
            query = query.where(messages.c.type == type_)
        if answered is True:
            query = query.where(messages.c.state == DeliveryState.ANSWERED)
        elif answered is False:
            # Records still awaiting feedback: not feedback, a withdrawal, a clarification or a verification step
            # themselves (nor a roster's answer, which the node answered), not withdrawn.
            query = query.where(messages.c.state != DeliveryState.ANSWERED,
                                messages.c.type.not_in([MessageType.FEEDBACK, MessageType.WITHDRAWAL,
                                                        MessageType.CLARIFICATION, MessageType.VERIFICATION_STEP,
                                                        MessageType.ROSTER_ANSWER]),
                                messages.c.withdrawn_at.is_(None))
        if cursor:
            query = query.where(messages.c.seq > decode_cursor(cursor))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(messages.c.seq).limit(limit + 1))).all()
        page = rows[:limit]
        return {
            "items": [_summary(r, self.trust) for r in page],
            # Always a cursor to come back with, so a local system can poll for what arrives later.
            "next_cursor": encode_cursor(page[-1].seq) if page else cursor,
            "has_more": len(rows) > limit,
        }

    async def county_obligations(self, *, counties: list[str], status: Status | None, limit: int,
                          now: datetime) -> dict[str, Any]:
        """The counties' feedback obligations by deadline, with their live status as of `now` (overdue is computed
        then); `count` is the number of all those with the status asked, `items` the first `limit`."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(obligations.c.state).where(obligations.c.receiver.in_(counties))
                                       .order_by(obligations.c.due_at))).all()
        views = [obligation_view(r.state, now) for r in rows]
        if status:
            views = [v for v in views if v["status"] == status.value]
        return {"as_of": now.isoformat(), "items": views[:limit], "count": len(views)}

    async def county_reminders(self, *, counties: list[str]) -> list[dict[str, Any]]:
        """The last 500 reminders emitted for the counties, newest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(reminders).where(reminders.c.receiver.in_(counties))
                                       .order_by(reminders.c.emitted_at.desc()).limit(500))).all()
        return [{"message_id": r.message_id, "sender": r.sender, "kind": r.kind, "receiver": r.receiver,
                 "due_at": r.due_at.isoformat(), "fire_at": r.fire_at.isoformat(),
                 "emitted_at": r.emitted_at.isoformat()} for r in rows]

    async def quarantine_page(self, *, counties: list[str] | None, after: int | None, limit: int) -> dict[str, Any]:
        """Quarantined records after seq `after`, a page of `limit`: where each came from and why it was set aside,
        never its headers or payload. `counties`: only records addressed to these (their record key); None: all."""
        query = select(quarantine.c.seq, quarantine.c.topic, quarantine.c.partition, quarantine.c.offset,
                       quarantine.c.message_id, quarantine.c.reason_code, quarantine.c.reason,
                       quarantine.c.received_at, quarantine.c.replayed_at, quarantine.c.replay_result)
        if after is not None:
            query = query.where(quarantine.c.seq > after)
        if counties is not None:
            query = query.where(quarantine.c.key.in_(counties))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(quarantine.c.seq).limit(limit + 1))).all()
        items = [
            {"seq": r.seq, "reason_code": r.reason_code, "reason": r.reason, "topic": r.topic,
             "partition": r.partition, "offset": r.offset, "message_id": r.message_id,
             "received_at": as_utc(r.received_at), "replayed_at": as_utc(r.replayed_at),
             "replay_result": r.replay_result}
            for r in rows[:limit]
        ]
        return {"items": items, "has_more": len(rows) > limit, "next_after": items[-1]["seq"] if items else after}

    async def quarantined(self, seq: int) -> bool:
        """Whether a quarantined record `seq` exists (so that an unknown one is answered without more ado)."""
        async with self.engine.connect() as conn:
            return await conn.scalar(select(quarantine.c.seq).where(quarantine.c.seq == seq)) is not None
