"""A record's page (its whole thread, its fields for the two counties' staff) and the replies its receiving clerk
sends from it: answering it (反馈), asking for clarification (请求补充说明), a verification step (协查进展), through
`Queries.message` and the `Outbound` use cases, as the API's GET /v1/messages/{id} and its POST routes do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from adapters.workbook import columns, flatten
from contracts import RECORD_TYPES, MessageType
from exchange.domain.commands import ID_PATTERN, ClarificationRequestIn, FeedbackIn, VerificationStepIn
from exchange.domain.principals import Permission
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import counties_for
from exchange.entrypoints.http.web.forms import choice_labels, field_errors, fields, payload
from exchange.entrypoints.http.web.sessions import AnsweringPerson, ReadingPerson, WebUser
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
    """A reply the record's receiving clerk may send from its page, through the service the API's route calls."""

    message_type: MessageType
    title: tuple[str, str]
    body: type[BaseModel]
    send: Callable[[Any], Callable[..., Awaitable[str]]]  # the node -> its Outbound method
    answers: frozenset[MessageType]  # the records it replies to


REPLIES = {
    "answer": Reply(MessageType.FEEDBACK, ("反馈", "Answer"), FeedbackIn, lambda node: node.outbound.answer,
                    frozenset(ANSWERED_BY_FEEDBACK)),
    "clarification-request": Reply(MessageType.CLARIFICATION_REQUEST, ("请求补充说明", "Ask for clarification"),
                                   ClarificationRequestIn, lambda node: node.outbound.request_clarification,
                                   frozenset(ANSWERED_BY_FEEDBACK)),
    "verification-step": Reply(MessageType.VERIFICATION_STEP, ("协查进展", "Verification step"), VerificationStepIn,
                               lambda node: node.outbound.verification_step,
                               frozenset({MessageType.VERIFICATION_REQUEST})),
}


def _record_page(request: Request, user: WebUser, view: dict[str, Any], posted: str | None = None,
                 values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 problem: Problem | None = None, status: int = 200) -> Response:
    """The page; a clerk of the receiving county sees the forms of the replies still open to it (the service
    refuses any other all the same)."""
    open_ = (view["direction"] == "in" and not view.get("withdrawn_at") and view["state"] != "answered"
             and user.may(Permission.ANSWER))
    forms = [(slug, reply.title, fields(reply.message_type, values if slug == posted else None,
                                        errors if slug == posted else None), problem if slug == posted else None)
             for slug, reply in REPLIES.items() if open_ and view["type"] in reply.answers]
    return page(request, "record.html", status, view=view, fields=labelled(view["type"], view["data"]),
                feedback=[(f, labelled(f["type"], f["data"])) for f in view.get("feedback", [])], forms=forms,
                answered=request.query_params.get("answered"))


@router.get("/records/{sender}/{message_id}", response_class=HTMLResponse)
async def record_page(request: Request, sender: County, message_id: MessageId, user: ReadingPerson) -> Response:
    """The record, where it has got to, its thread (who did what, when), its feedback; the reply forms for a clerk."""
    return _record_page(request, user, await _view(request, user, sender, message_id))


@router.post("/records/{sender}/{message_id}/{reply}", response_class=HTMLResponse)
async def send_reply(request: Request, sender: County, message_id: MessageId,
                     reply: Literal["answer", "clarification-request", "verification-step"],
                     user: AnsweringPerson) -> Response:
    """Answer the record (反馈), ask its sender to clarify it, or report a verification step: the contract's rules
    on the server (the Outbound use case of the API's route), errors beside their inputs."""
    node = request.app.state.node
    chosen = REPLIES[reply]
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    data, errors = payload(chosen.message_type, form)
    problem = None
    if not errors:
        try:
            reply_id = await chosen.send(node)(message_id, chosen.body(data=data), principal=user.principal,
                                               sender=sender)
        except Problem as refused:
            errors, problem = field_errors(refused.errors), refused
        else:
            return RedirectResponse(f"/ui/records/{sender}/{message_id}?answered={reply_id}", status_code=303)
    view = await _view(request, user, sender, message_id)
    return _record_page(request, user, view, reply, form, errors, problem, 422)
