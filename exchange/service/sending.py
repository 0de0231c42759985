"""Accepting what a local case system sends: validate, store with its outbox record, all or nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Awaitable, Callable

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import (
    RECORD_TYPES,
    REQUEST_TYPES,
    SCHEMA_VERSIONS,
    MessageType,
    UnknownMessageType,
    UnknownSchemaVersion,
    validate_payload,
)
from exchange.adapters.crypto.trust import Trust
from exchange.config import Settings
from exchange.domain.clock import utcnow
from exchange.domain.commands import (
    SUBMITTABLE,
    ClarificationIn,
    ClarificationRequestIn,
    FeedbackIn,
    MessageIn,
    VerificationStepIn,
    WithdrawalIn,
)
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.events import MessageAccepted
from exchange.domain.message import Outgoing, clarification_id, content_hash, new_envelope, withdrawal_id
from exchange.domain.principals import Principal
from exchange.domain.problems import Problem, validation_problem
from exchange.domain.roster import REGISTRATION
from exchange.domain.verification import ANSWERED, STEPS, candidate_ids, progress, step_id
from exchange.service.obligations import Obligations
from exchange.service.queries import one_per_sender
from exchange.service.roster import resolve_returns
from exchange.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

#: Backpressure (exchange.service.backpressure.OutboxLimit): awaited with (connection, records to add) before
#: storing; raises a 503 Problem when the outbox is full.
Admit = Callable[[AsyncConnection, int], Awaitable[None]]


class Outbound:
    """The sending side of a node."""

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, obligations: Obligations, trust: Trust,
                 admit: Admit, wake_relay: Callable[[], None]):
        self.settings = settings
        self.uow = uow
        self.obligations = obligations
        self.trust = trust  # seals payloads at rest
        self.admit = admit
        self.wake_relay = wake_relay

    async def submit(self, items: list[MessageIn], principal: str | None = None) -> list[str]:
        """Store every message or none; returns their ids (existing ids for idempotent repeats)."""
        now = utcnow()
        prepared: list[Outgoing] = []
        for index, item in enumerate(items):
            try:
                prepared.append(self._prepare(item, now))
            except Problem as problem:
                raise _at(problem, index, len(items)) from None
        # A message is (sending county, id): ids are each county's own, another county's are never compared.
        seen: set[tuple[str, str]] = set()
        for index, out in enumerate(prepared):
            if out.key in seen:
                raise _at(Problem("duplicate_message_id", "id repeated within the batch", "同一批次中报文编号重复"), index, len(items))
            seen.add(out.key)

        async with self.uow() as uow:
            existing = await uow.messages.sent_hashes([out.key for out in prepared])
            fresh = []
            for index, out in enumerate(prepared):
                if out.key in existing:
                    if existing[out.key] != out.content_hash:
                        raise _at(Problem("duplicate_message_id"), index, len(items))
                    continue
                fresh.append(out)
            await _check_replies(uow, fresh, items_index={o.key: i for i, o in enumerate(prepared)},
                                 total=len(items))
            if fresh:
                await self.admit(uow.conn, len(fresh))
                await uow.messages.add([o.message_row(Direction.OUT, DeliveryState.ACCEPTED, now,
                                                      self.trust.seal_payload) for o in fresh])
                uow.record(*(MessageAccepted(o, principal) for o in fresh))
                await self._mark_answered(uow, [o for o in fresh if o.envelope.inreplyto], now)
                await resolve_returns(uow, REGISTRATION, [(o.envelope, o.data) for o in fresh if o.envelope.message_type
                                                          is MessageType.RETURN_CANCELLATION],
                                      self.settings.person_secret, now)
        if uow.published:
            self.wake_relay()
        return [out.id for out in prepared]

    async def answer(self, original_id: str, feedback: FeedbackIn, principal: Principal | None = None,
                     sender: str | None = None) -> str:
        """Feedback to an inbound message; sender and receiver are the original's, reversed. `sender` (the
        original's) is needed only when two counties sent the caller's counties messages with this id."""
        async with self.uow() as uow:
            rows = await uow.messages.received(original_id, self.settings.served, sender)
        row = _own_received(original_id, rows, principal, self.settings.served)
        item = MessageIn(
            id=feedback.id,
            type=MessageType.FEEDBACK.value,
            schema_version=feedback.schema_version,
            sender=row.receiver,
            receiver=row.sender,
            in_reply_to=original_id,
            agreement_id=row.agreement_id,
            data=feedback.data,
        )
        return (await self.submit([item], principal=principal.id if principal else None))[0]

    async def withdraw(self, record_id: str, withdrawal: WithdrawalIn, principal: Principal | None = None,
                       sender: str | None = None) -> str:
        """Withdraw (撤回) a record the caller's county sent, until it is answered: a withdrawal message goes to its
        receiver, which cancels its feedback obligation. Once per record: a second withdrawal returns the first's
        id and sends nothing. Refused, changing nothing: a message not the caller's own outbound one (404, as if it
        did not exist), a reply or control message (409 not_withdrawable), a record answered (409
        already_answered). `sender` is needed only when counties of the caller sent messages with this id."""
        now = utcnow()
        _check_body(MessageType.WITHDRAWAL, withdrawal.schema_version, withdrawal.data)  # a bad body is refused (422) whatever became of the record
        async with self.uow() as uow:
            rows = await uow.messages.sent(record_id, self.settings.served, sender)
            own = [r for r in rows if principal is None or principal.acts_for(r.sender)]
            row = one_per_sender(record_id, own) if own else None
            if row is None:
                raise Problem("message_not_found", f"this node's counties sent no message {record_id}",
                              f"本节点服务的县区没有发出编号为 {record_id} 的报文")
            if row.type not in RECORD_TYPES:
                raise Problem("not_withdrawable", f"message {record_id} is a {row.type}: only a record can be "
                              "withdrawn", f"编号为 {record_id} 的报文是 {row.type}，只能撤回业务报文")
            wid = withdrawal_id(row.sender, record_id)
            if (row.sender, wid) in await uow.messages.sent_hashes([(row.sender, wid)]):
                return wid  # withdrawn already: the same withdrawal
            if row.answered_at is not None:
                raise Problem("already_answered", f"{row.receiver} answered message {record_id} already",
                              f"{row.receiver} 已对编号为 {record_id} 的报文反馈，不能撤回")
            await self.compose(uow, MessageIn(
                id=wid, type=MessageType.WITHDRAWAL.value, schema_version=withdrawal.schema_version,
                sender=row.sender, receiver=row.receiver, in_reply_to=record_id, agreement_id=row.agreement_id,
                data=withdrawal.data), principal, now)
            await uow.messages.mark_withdrawn(Direction.OUT, row.sender, row.receiver, record_id, now)
        if uow.published:
            self.wake_relay()
        return wid

    async def request_clarification(self, record_id: str, request: ClarificationRequestIn,
                                    principal: Principal | None = None, sender: str | None = None) -> str:
        """Ask (请求补充说明) the sender of a record the caller's county received to clarify it, while its obligation is
        open and before its deadline: a clarification_request goes to the record's sender and the obligation's clock
        pauses (announced to the monitor). A record may be clarified more than once, one request at a time.
        Refused, changing nothing: a message not received by the caller's counties (404), not a record or with no
        open obligation (409 not_clarifiable), answered (409 already_answered), a request awaiting its answer (409
        clarification_pending), past its deadline (409 deadline_passed)."""
        now = utcnow()
        _check_body(MessageType.CLARIFICATION_REQUEST, request.schema_version, request.data)
        async with self.uow() as uow:
            row = _own_received(record_id, await uow.messages.received(record_id, self.settings.served, sender),
                                principal, self.settings.served)
            kept = await uow.obligations.get(row.sender, record_id) if row.type in RECORD_TYPES else None
            if kept is None or kept.obligation.cancelled_at is not None:
                raise Problem("not_clarifiable", f"message {record_id} is no record awaiting feedback",
                              f"编号为 {record_id} 的报文不是尚待反馈的业务报文")
            ob = kept.obligation
            if ob.answered_at is not None or row.answered_at is not None:
                raise Problem("already_answered", f"{row.receiver} answered message {record_id} already",
                              f"{row.receiver} 已对编号为 {record_id} 的报文反馈，不能请求补充说明")
            if ob.paused:
                raise Problem("clarification_pending", f"a clarification request about {record_id} awaits its answer",
                              f"编号为 {record_id} 的报文已请求补充说明，尚待答复")
            if now > ob.due_at:
                raise Problem("deadline_passed", f"the deadline of message {record_id} passed at "
                              f"{ob.due_at.isoformat()}", f"编号为 {record_id} 的报文反馈期限（{ob.due_at.isoformat()}）已过")
            out = await self.compose(uow, MessageIn(
                id=str(uuid.uuid4()), type=MessageType.CLARIFICATION_REQUEST.value, schema_version=request.schema_version,
                sender=row.receiver, receiver=row.sender, in_reply_to=record_id, agreement_id=row.agreement_id,
                data=request.data), principal, now)
            await self.obligations.paused(uow, kept, out.id, now)
        if uow.published:
            self.wake_relay()
        return out.id

    async def clarify(self, request_id: str, clarification: ClarificationIn, principal: Principal | None = None,
                      sender: str | None = None) -> str:
        """Answer (补充说明) a clarification request the caller's county received about a record it sent: the
        clarification goes back to the record's receiver, whose clock resumes. Once per request: a second answer
        is refused (409 already_clarified). Refused, changing nothing: an id not received by the caller's counties
        (404), a message that is no clarification request (409 not_a_clarification_request)."""
        now = utcnow()
        _check_body(MessageType.CLARIFICATION, clarification.schema_version, clarification.data)
        async with self.uow() as uow:
            row = await self._own_request(uow, request_id, MessageType.CLARIFICATION_REQUEST, principal, sender)
            cid = clarification_id(row.receiver, request_id)
            if row.answered_at is not None or (row.receiver, cid) in await uow.messages.sent_hashes(
                    [(row.receiver, cid)]):
                raise Problem("already_clarified", f"clarification request {request_id} was answered already",
                              f"编号为 {request_id} 的补充说明请求已答复")
            await self.compose(uow, MessageIn(
                id=cid, type=MessageType.CLARIFICATION.value, schema_version=clarification.schema_version,
                sender=row.receiver, receiver=row.sender, in_reply_to=request_id, agreement_id=row.agreement_id,
                data=clarification.data), principal, now)
            await uow.messages.mark_answered(row.sender, row.receiver, request_id, now)
        if uow.published:
            self.wake_relay()
        return cid

    async def verification_step(self, request_id: str, step: VerificationStepIn, principal: Principal | None = None,
                                sender: str | None = None) -> str:
        """Report a step (协查进展) on a verification request the caller's county received: a verification_step goes
        to the requester. Steps go in order, each once (exchange/domain/verification.py); the answered step (协查反馈)
        answers the request and stops its clock, as feedback answers a record. Refused, changing nothing: an id not
        received by the caller's counties (404), no verification request (409 not_a_verification_request), withdrawn
        by its sender (409 request_withdrawn), a step out of order or again (409 step_out_of_order)."""
        now = utcnow()
        _check_body(MessageType.VERIFICATION_STEP, step.schema_version, step.data)
        async with self.uow() as uow:
            row = await self._own_request(uow, request_id, MessageType.VERIFICATION_REQUEST, principal, sender)
            kept = await uow.obligations.get(row.sender, request_id)
            if kept is not None and kept.obligation.cancelled_at is not None:
                raise Problem("request_withdrawn", f"{row.sender} withdrew verification request {request_id}",
                              f"{row.sender} 已撤回编号为 {request_id} 的协查请求")
            county, name, found = row.receiver, step.data["step"], step.data.get("found")
            taken = await uow.messages.sent_hashes([(county, i) for i in candidate_ids(county, request_id)])
            standing = progress(county, request_id, {i for _, i in taken})
            if not standing.allows(name):
                raise Problem("step_out_of_order", f"request {request_id} is at step {standing.step}: {name} cannot "
                              "follow", f"编号为 {request_id} 的协查请求当前步骤为{STEPS[standing.step]}，不能进行"
                              f"{STEPS[name]}")
            out = await self.compose(uow, MessageIn(
                id=step_id(county, request_id, name, found), type=MessageType.VERIFICATION_STEP.value,
                schema_version=step.schema_version, sender=county, receiver=row.sender, in_reply_to=request_id,
                agreement_id=row.agreement_id, data=step.data), principal, now)
            if name == ANSWERED:  # answers the request as feedback answers a record
                await self._mark_answered(uow, [out], now)
        if uow.published:
            self.wake_relay()
        return out.id

    async def _own_request(self, uow: UnitOfWork, request_id: str, message_type: MessageType,
                           principal: Principal | None, sender: str | None):  # noqa: ANN202 - a messages row
        """The request `request_id` the caller's counties received (else 404), if it is a `message_type` (else 409
        not_a_clarification_request, not_a_verification_request)."""
        row = _own_received(request_id, await uow.messages.received(request_id, self.settings.served, sender),
                            principal, self.settings.served)
        if row.type != message_type:
            name_zh = _REQUEST_NAMES[message_type]
            raise Problem(f"not_a_{message_type}", f"message {request_id} is a {row.type}, not a "
                          f"{message_type.replace('_', ' ')}", f"编号为 {request_id} 的报文是 {row.type}，不是{name_zh}")
        return row

    async def compose(self, uow: UnitOfWork, item: MessageIn, principal: Principal | None,
                      now: datetime, admit: bool = True) -> Outgoing:
        """A message the node composes for a county's system (a withdrawal, a clarification request or answer, a
        roster): checked, kept and sent in this unit of work as a posted message would be. `admit` False: made while
        receiving (a roster's answer), which the outbox's backpressure must not refuse."""
        out = self._prepare(item, now, allowed=(MessageType(item.type),))
        if admit:
            await self.admit(uow.conn, 1)
        await uow.messages.add([out.message_row(Direction.OUT, DeliveryState.ACCEPTED, now, self.trust.seal_payload)])
        uow.record(MessageAccepted(out, principal.id if principal else None))
        return out

    def _prepare(self, item: MessageIn, now, allowed=SUBMITTABLE) -> Outgoing:  # noqa: ANN001
        try:
            message_type = MessageType(item.type)
            if message_type not in allowed:
                raise ValueError
        except ValueError:
            raise Problem(
                "unknown_message_type",
                f"type must be one of {', '.join(t.value for t in allowed)}",
                "报文类型应为：" + "、".join(t.value for t in allowed),
            ) from None
        if item.schema_version not in SCHEMA_VERSIONS[message_type]:
            known = ", ".join(sorted(SCHEMA_VERSIONS[message_type]))
            raise Problem("unknown_schema_version", f"known versions of {message_type.value}: {known}",
                          f"{message_type.value} 的已知版本：{known}")
        if item.sender not in self.settings.served:
            raise Problem("sender_not_served", f"this node serves {', '.join(self.settings.counties)}",
                          f"本节点服务的县区：{'、'.join(self.settings.counties)}")
        if message_type is MessageType.FEEDBACK and not item.in_reply_to:
            raise Problem("not_answerable", "feedback needs in_reply_to", "反馈报文必须填写 in_reply_to")
        try:
            envelope = new_envelope(
                message_type=message_type,
                schema_version=item.schema_version,
                sender=item.sender,
                receiver=item.receiver,
                now=now,
                message_id=item.id,
                in_reply_to=item.in_reply_to,
                agreement_id=item.agreement_id,
                subject=item.subject,
            )
        except ValidationError as exc:
            raise validation_problem(exc) from None
        except (UnknownMessageType, UnknownSchemaVersion) as exc:
            raise Problem(exc.code, exc.message_en, exc.message_zh) from None
        try:
            payload = validate_payload(message_type, item.schema_version, item.data)
        except ValidationError as exc:
            raise validation_problem(exc, ("data",)) from None
        data = payload.model_dump(mode="json", exclude_none=True)
        fingerprint = content_hash(
            {**item.model_dump(exclude={"id", "data"}), "data": data}
        )
        return Outgoing(envelope, data, fingerprint)

    async def _mark_answered(self, uow: UnitOfWork, replies: list[Outgoing], now: datetime) -> None:
        """The first feedback (or a verification request's answered step) answers the original and stops its clock;
        later feedback is an amendment."""
        for out in replies:
            env = out.envelope
            await self.obligations.answered(uow, env.receiverregion, env.inreplyto, out.id, now)
            await uow.messages.mark_answered(env.receiverregion, env.senderregion, env.inreplyto, now)


async def _check_replies(uow: UnitOfWork, fresh: list[Outgoing], items_index: dict[tuple[str, str], int],
                         total: int) -> None:
    """Feedback must answer a business message its sender received from its receiver."""
    for out in fresh:
        env = out.envelope
        if not env.inreplyto:
            continue
        original = await uow.messages.received_from(env.receiverregion, env.senderregion, env.inreplyto)
        index = items_index[out.key]
        if original is None:
            raise _at(Problem("message_not_found",
                              f"{env.senderregion} received no message {env.inreplyto} from {env.receiverregion}",
                              f"{env.senderregion} 未收到 {env.receiverregion} 发来的编号为 {env.inreplyto} 的报文"),
                      index, total)
        kind = original.type
        if kind in REQUEST_TYPES:
            raise _at(Problem("not_answerable", f"a {kind} is answered by its steps (POST /v1/messages/"
                              f"{env.inreplyto}/verification-steps), not with feedback",
                              f"{kind} 报文以协查进展答复（POST /v1/messages/{env.inreplyto}/verification-steps），"
                              "不能反馈"), index, total)
        if kind not in RECORD_TYPES:
            raise _at(Problem("not_answerable", f"a {kind} cannot be answered with feedback",
                              f"不能对 {kind} 报文反馈"), index, total)
        if original.withdrawn_at is not None:
            raise _at(Problem("record_withdrawn", f"{env.receiverregion} withdrew message {env.inreplyto}",
                              f"{env.receiverregion} 已撤回编号为 {env.inreplyto} 的报文，不能反馈"), index, total)


#: The requests a county answers through their own endpoints, as their refusals name them.
_REQUEST_NAMES = {MessageType.CLARIFICATION_REQUEST: "补充说明请求", MessageType.VERIFICATION_REQUEST: "协查请求"}


def _own_received(message_id: str, rows: list, principal: Principal | None, served: frozenset[str]):  # noqa: ANN202
    """The inbound message `message_id` of the caller's counties; else 404: another county's message (also one of
    this node's) is answered as if it did not exist, since a 403 would confirm it is here, and whose."""
    own = [r for r in rows if principal is None or principal.acts_for(r.receiver)]
    row = one_per_sender(message_id, own) if own else None
    if row is None or row.receiver not in served:
        raise Problem("message_not_found", f"no inbound message {message_id} for this node's counties",
                      f"本节点服务的县区没有收到编号为 {message_id} 的报文")
    return row


def _check_body(message_type: MessageType, schema_version: str, data: dict) -> None:
    """A payload posted to its own endpoint meets its contract; else 422."""
    versions = SCHEMA_VERSIONS[message_type]
    if schema_version not in versions:
        known = ", ".join(sorted(versions))
        raise Problem("unknown_schema_version", f"known versions of {message_type}: {known}",
                      f"{message_type} 的已知版本：{known}")
    try:
        validate_payload(message_type, schema_version, data)
    except ValidationError as exc:
        raise validation_problem(exc, ("data",)) from None


def _at(problem: Problem, index: int, total: int) -> Problem:
    """Point a problem at the message of a batch that caused it."""
    if total == 1:
        return problem
    problem.detail_en = f"message #{index}: {problem.detail_en or problem.body()['title']}"
    problem.detail_zh = f"第 {index} 条报文：{problem.detail_zh or problem.body()['title_zh']}"
    problem.errors = [{**e, "field": f"messages/{index}/{e['field']}"} for e in problem.errors]
    return problem
