"""Messages: what local systems post (a message, a batch, feedback) and read (one message, the inbox)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from contracts import MessageType
from exchange.config import Settings
from exchange.domain.commands import (
    ID_PATTERN,
    BatchIn,
    ClarificationIn,
    ClarificationRequestIn,
    FeedbackIn,
    MessageIn,
    VerificationStepIn,
    WithdrawalIn,
)
from exchange.domain.principals import Principal
from exchange.domain.problems import Problem
from exchange.entrypoints.http import document
from exchange.entrypoints.http.auth import counties_for, require_county
from exchange.entrypoints.http.deps import AnsweringPrincipal, NodeDep, QueriesDep, ReadingPrincipal, SendingPrincipal
from exchange.entrypoints.http.document import BODY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.models import Accepted, BatchAccepted, InboxPage, MessageView
from exchange.service.queries import CURSOR_PATTERN

#: What sending a message can be refused with: a bad body, a county not the caller's or not served here, an
#: unknown message answered (404) or an id reused (409), and a full outbox while the broker is away (503).
SEND_PROBLEMS = problems(PERMITTED, BODY, 404, 409, 503)
#: A message id in a path, as the envelope allows it.
MessageIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
#: Which county sent the message: ids are each sender's own, so two senders may have used the same one.
SenderQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description=(
    "The county that sent the message. Needed only when the caller's counties received this id from more "
    "than one sender (answered with 409 sender_required, which lists them)."))]


def _typed(model: type[BaseModel], message_type: MessageType) -> dict[str, Any]:
    """The document's body of a route that posts one type's payload: `data` is that payload's schema."""
    return document.body(document.with_payload(model, message_type))


def _may_send(principal: Principal, items: list[MessageIn], served: frozenset[str]) -> None:
    """A key sends only as the counties it acts for (a sender the node does not serve is refused later)."""
    for item in items:
        if item.sender in served:
            require_county(principal, item.sender)


def router(settings: Settings) -> APIRouter:
    """The routes; `settings` bounds an inbox page (MPX_PAGE_MAX, in the document)."""
    api = APIRouter(tags=["messages"])

    @api.post("/v1/messages", status_code=202, response_model=Accepted, responses=SEND_PROBLEMS,
              openapi_extra=document.body(document.TypedMessageIn))
    async def post_message(request: Request, node: NodeDep, principal: SendingPrincipal) -> Accepted:
        """Validate, store durably and queue one message for delivery (202 once it is on disk)."""
        item = await parse_body(request, MessageIn)
        _may_send(principal, [item], node.settings.served)
        [message_id] = await node.outbound.submit([item], principal=principal.id)
        return Accepted(id=message_id)

    @api.post("/v1/messages/batch", status_code=202, response_model=BatchAccepted, responses=SEND_PROBLEMS,
              openapi_extra=document.body(document.TypedBatchIn))
    async def post_batch(request: Request, node: NodeDep, principal: SendingPrincipal) -> BatchAccepted:
        """Many messages at once: all are stored, or (on any error) none."""
        batch = await parse_body(request, BatchIn)
        _may_send(principal, batch.messages, node.settings.served)
        if len(batch.messages) > node.settings.max_batch:
            raise Problem("batch_too_large", f"at most {node.settings.max_batch} messages per batch",
                          f"每批最多 {node.settings.max_batch} 条报文")
        ids = await node.outbound.submit(batch.messages, principal=principal.id)
        return BatchAccepted(ids=ids, count=len(ids))

    @api.post("/v1/messages/{message_id}/feedback", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=_typed(FeedbackIn, MessageType.FEEDBACK))
    async def post_feedback(message_id: MessageIdPath, request: Request, node: NodeDep, principal: AnsweringPrincipal,
                            sender: SenderQuery = None) -> Accepted:
        """Answer a message this node's county received; the feedback travels back to its sender."""
        feedback = await parse_body(request, FeedbackIn)
        feedback_id = await node.outbound.answer(message_id, feedback, principal=principal, sender=sender)
        return Accepted(id=feedback_id)

    @api.post("/v1/messages/{message_id}/withdrawal", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=_typed(WithdrawalIn, MessageType.WITHDRAWAL))
    async def post_withdrawal(message_id: MessageIdPath, request: Request, node: NodeDep,
                              principal: SendingPrincipal, sender: SenderQuery = None) -> Accepted:
        """Withdraw (撤回) a record this node's county sent, until it is answered; the receiver's feedback obligation
        is cancelled. Once per record: posting again answers the same withdrawal's id. 409 already_answered once
        it is answered, not_withdrawable for feedback; 404 for a message the caller's counties did not send."""
        withdrawal = await parse_body(request, WithdrawalIn)
        withdrawal_id = await node.outbound.withdraw(message_id, withdrawal, principal=principal, sender=sender)
        return Accepted(id=withdrawal_id)

    @api.post("/v1/messages/{message_id}/clarification-request", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=_typed(ClarificationRequestIn, MessageType.CLARIFICATION_REQUEST))
    async def post_clarification_request(message_id: MessageIdPath, request: Request, node: NodeDep,
                                         principal: AnsweringPrincipal, sender: SenderQuery = None) -> Accepted:
        """Ask (请求补充说明) the sender of a record this node's county received to clarify it, before its deadline;
        the feedback clock pauses until the answer arrives. 409 deadline_passed, already_answered,
        clarification_pending, not_clarifiable; 404 for a message the caller's counties did not receive."""
        body = await parse_body(request, ClarificationRequestIn)
        request_id = await node.outbound.request_clarification(message_id, body, principal=principal, sender=sender)
        return Accepted(id=request_id)

    @api.post("/v1/messages/{message_id}/clarification", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=_typed(ClarificationIn, MessageType.CLARIFICATION))
    async def post_clarification(message_id: MessageIdPath, request: Request, node: NodeDep,
                                 principal: SendingPrincipal, sender: SenderQuery = None) -> Accepted:
        """Answer (补充说明) a clarification request (`message_id`) this node's county received about a record it
        sent; the asker's clock resumes. Once per request: 409 already_clarified; 409 not_a_clarification_request
        for another message; 404 for a message the caller's counties did not receive."""
        body = await parse_body(request, ClarificationIn)
        clarification_id = await node.outbound.clarify(message_id, body, principal=principal, sender=sender)
        return Accepted(id=clarification_id)

    @api.post("/v1/messages/{message_id}/verification-steps", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=_typed(VerificationStepIn, MessageType.VERIFICATION_STEP))
    async def post_verification_step(message_id: MessageIdPath, request: Request, node: NodeDep,
                                     principal: AnsweringPrincipal, sender: SenderQuery = None) -> Accepted:
        """Report a step (协查进展) on a verification request (`message_id`) this node's county received: matched
        (配对), verified (核实), answered (协查反馈), in that order, each once (matched with found false may be
        answered at once); the answered step answers the request and stops its clock. 409 step_out_of_order,
        not_a_verification_request, request_withdrawn; 404 for a message the caller's counties did not receive."""
        body = await parse_body(request, VerificationStepIn)
        step_id = await node.outbound.verification_step(message_id, body, principal=principal, sender=sender)
        return Accepted(id=step_id)

    # The views leave out what a message does not have (an outbound one has no received_at; feedback has no
    # feedback of its own): exclude_unset keeps them out of the answer as they are out of the query's dicts.
    @api.get("/v1/messages/{message_id}", response_model=MessageView, response_model_exclude_unset=True,
             responses=problems(PERMITTED, PARAMETERS, 404, 409))
    async def get_message(message_id: MessageIdPath, node: NodeDep, queries: QueriesDep, principal: ReadingPrincipal,
                          sender: SenderQuery = None) -> dict[str, Any]:
        """The message, where it has got to (accepted, published, delivered, answered), and its feedback."""
        return await queries.message(message_id, counties_for(principal, node.settings.served), sender)

    @api.get("/v1/inbox", response_model=InboxPage, response_model_exclude_unset=True,
             responses=problems(PERMITTED, PARAMETERS, 400))
    async def get_inbox(
        node: NodeDep,
        queries: QueriesDep,
        principal: ReadingPrincipal,
        county: Annotated[str | None, Query(description="Only this served county.")] = None,
        type: Annotated[MessageType | None, Query(description="Only this message type.")] = None,  # noqa: A002
        answered: Annotated[bool | None, Query(description="true: answered; false: awaiting feedback.")] = None,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page.")
                          ] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
    ) -> dict[str, Any]:
        """Inbound messages for the caller's counties, oldest first."""
        counties = counties_for(principal, node.settings.served, county)
        return await queries.inbox(counties=counties, type_=type, answered=answered, cursor=cursor, limit=limit)

    return api
