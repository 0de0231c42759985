"""A record's page (its whole thread, its fields for the two counties' staff) and the replies sent from it: by its
receiving clerk, answering it (反馈), asking for clarification (请求补充说明), a verification step (协查进展); by its
sending clerk, answering a clarification request (补充说明) and withdrawing it (撤回). Through `Queries.message` and
the `Outbound` use cases, as the API's GET /v1/messages/{id} and its POST routes do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from adapters.workbook import columns, flatten
from contracts import RECORD_TYPES, MessageType
from exchange.domain.commands import (
    ID_PATTERN,
    ClarificationIn,
    ClarificationRequestIn,
    FeedbackIn,
    VerificationStepIn,
    WithdrawalIn,
)
from exchange.domain.principals import Permission
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.deps import require_permission
from exchange.entrypoints.http.web.forms import choice_labels, field_errors, fields, payload
from exchange.entrypoints.http.web.sessions import ReadingPerson, WebUser
from exchange.entrypoints.http.web.templating import page

router = APIRouter(include_in_schema=False)  # under /ui/ (workbench.router)
County = Annotated[str, Path(pattern=r"^[0-9]{6}$")]
MessageId = Annotated[str, Path(pattern=ID_PATTERN)]
#: Records answered with feedback (a verification request is answered by its steps).
ANSWERED_BY_FEEDBACK = RECORD_TYPES - {MessageType.VERIFICATION_REQUEST}


def labelled(message_type: str, data: dict[str, Any]) -> list[tuple[str, Any]]:
    """A payload's fields with their Chinese names (the template's headings), closed-list values named too."""
    try:
        headings = {c.key: c.heading.rsplit(" ", 1)[0] for c in columns(MessageType(message_type))}
    except (ValueError, KeyError):
        headings = {}
    names = {**choice_labels(), True: "是", False: "否"}
    return [(headings.get(key, key), names.get(value, value) if isinstance(value, str | bool) else value)
            for key, value in flatten(data).items()]


async def _view(request: Request, user: WebUser, sender: str, message_id: str) -> dict[str, Any]:
    node = request.app.state.node
    return await node.queries.message(message_id, counties_for(user.principal, node.settings.served), sender)


@dataclass(frozen=True)
class Reply:
    """A reply a clerk may send from a record's page, through the service the API's route calls."""

    message_type: MessageType
    title: tuple[str, str]
    body: type[BaseModel]
    send: Callable[[Any], Callable[..., Awaitable[str]]]  # the node -> its Outbound method
    answers: frozenset[MessageType]  # the records it replies to
    permission: Permission = Permission.ANSWER  # as the API's route asks
    by_sender: bool = False  # sent by the record's sending county (else by its receiving one)

    def open_to(self, user: WebUser, view: dict[str, Any]) -> bool:
        """Whether the form is shown: the record still open, on the side and with the permission it needs (the
        service refuses any other all the same)."""
        side = "out" if self.by_sender else "in"
        return (view["direction"] == side and view["type"] in self.answers and not view.get("withdrawn_at")
                and view["state"] != "answered" and user.may(self.permission)
                and (self.message_type is not MessageType.CLARIFICATION or _open_request(view) is not None))


def _open_request(view: dict[str, Any]) -> str | None:
    """The clarification request about the record still waiting for its sender's answer."""
    return next((c["request"]["id"] for c in view.get("clarifications", []) if c["answer"] is None), None)


REPLIES = {
    "answer": Reply(MessageType.FEEDBACK, ("反馈", "Answer"), FeedbackIn, lambda node: node.outbound.answer,
                    frozenset(ANSWERED_BY_FEEDBACK)),
    "clarification-request": Reply(MessageType.CLARIFICATION_REQUEST, ("请求补充说明", "Ask for clarification"),
                                   ClarificationRequestIn, lambda node: node.outbound.request_clarification,
                                   frozenset(ANSWERED_BY_FEEDBACK)),
    "verification-step": Reply(MessageType.VERIFICATION_STEP, ("协查进展", "Verification step"), VerificationStepIn,
                               lambda node: node.outbound.verification_step,
                               frozenset({MessageType.VERIFICATION_REQUEST})),
    "clarification": Reply(MessageType.CLARIFICATION, ("补充说明", "Clarify"), ClarificationIn,
                           lambda node: node.outbound.clarify, frozenset(ANSWERED_BY_FEEDBACK), Permission.SEND,
                           by_sender=True),
    "withdrawal": Reply(MessageType.WITHDRAWAL, ("撤回", "Withdraw"), WithdrawalIn, lambda node: node.outbound.withdraw,
                        frozenset(RECORD_TYPES), Permission.SEND, by_sender=True),
}


def _record_page(request: Request, user: WebUser, view: dict[str, Any], posted: str | None = None,
                 values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 problem: Problem | None = None, status: int = 200) -> Response:
    """The page, with the forms of the replies still open to the clerk."""
    forms = [(slug, reply.title, fields(reply.message_type, values if slug == posted else None,
                                        errors if slug == posted else None), problem if slug == posted else None)
             for slug, reply in REPLIES.items() if reply.open_to(user, view)]
    return page(request, "record.html", status, view=view, fields=labelled(view["type"], view["data"]),
                feedback=[(f, labelled(f["type"], f["data"])) for f in view.get("feedback", [])], forms=forms,
                answered=request.query_params.get("answered"))


@router.get("/records/{sender}/{message_id}", response_class=HTMLResponse)
async def record_page(request: Request, sender: County, message_id: MessageId, user: ReadingPerson) -> Response:
    """The record, where it has got to, its thread (who did what, when), its feedback; the reply forms for a clerk."""
    return _record_page(request, user, await _view(request, user, sender, message_id))


@router.post("/records/{sender}/{message_id}/{reply}", response_class=HTMLResponse)
async def send_reply(request: Request, sender: County, message_id: MessageId,
                     reply: Literal["answer", "clarification-request", "verification-step", "clarification",
                                    "withdrawal"],
                     user: ReadingPerson) -> Response:
    """Answer the record (反馈), ask its sender to clarify it, report a verification step; or, its sender's clerk,
    clarify it or withdraw it: the contract's rules on the server (the Outbound use case of the API's route), errors
    beside their inputs."""
    node = request.app.state.node
    chosen = REPLIES[reply]
    require_permission(user.principal, chosen.permission)  # a viewer's forged POST: 403, as the API answers
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    data, errors = payload(chosen.message_type, form)
    problem = None
    if not errors:
        # A clarification answers the open request about the record (the request is the receiver's message).
        target, target_sender = message_id, sender
        if chosen.message_type is MessageType.CLARIFICATION:
            view = await _view(request, user, sender, message_id)
            target, target_sender = _open_request(view) or message_id, view["receiver"]
        try:
            reply_id = await chosen.send(node)(target, chosen.body(data=data), principal=user.principal,
                                               sender=target_sender)
        except Problem as refused:
            errors, problem = field_errors(refused.errors), refused
        else:
            return RedirectResponse(f"/ui/records/{sender}/{message_id}?answered={reply_id}", status_code=303)
    view = await _view(request, user, sender, message_id)
    return _record_page(request, user, view, reply, form, errors, problem, 422)
