"""A record's page (its whole thread, its fields for the two counties' staff) and answering it (反馈), through
`Queries.message` and `Outbound.answer` as the API's GET /v1/messages/{id} and POST …/feedback do."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters.workbook import columns, flatten
from contracts import RECORD_TYPES, MessageType
from exchange.domain.commands import ID_PATTERN, FeedbackIn
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


def _record_page(request: Request, user: WebUser, view: dict[str, Any], values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, problem: Problem | None = None, status: int = 200) -> Response:
    answerable = (view["direction"] == "in" and view["type"] in ANSWERED_BY_FEEDBACK and not view.get("withdrawn_at")
                  and view["state"] != "answered" and user.may(Permission.ANSWER))
    return page(request, "record.html", status, view=view, fields=labelled(view["type"], view["data"]),
                feedback=[(f, labelled(f["type"], f["data"])) for f in view.get("feedback", [])],
                answer_form=fields(MessageType.FEEDBACK, values, errors) if answerable else None,
                problem=problem, answered=request.query_params.get("answered"))


@router.get("/records/{sender}/{message_id}", response_class=HTMLResponse)
async def record_page(request: Request, sender: County, message_id: MessageId, user: ReadingPerson) -> Response:
    """The record, where it has got to, its thread (who did what, when), its feedback; the answer form for a clerk."""
    return _record_page(request, user, await _view(request, user, sender, message_id))


@router.post("/records/{sender}/{message_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, sender: County, message_id: MessageId, user: AnsweringPerson) -> Response:
    """Answer the record: the contract's rules on the server (Outbound.answer), errors beside their inputs."""
    node = request.app.state.node
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    data, errors = payload(MessageType.FEEDBACK, form)
    problem = None
    if not errors:
        try:
            feedback_id = await node.outbound.answer(message_id, FeedbackIn(data=data), principal=user.principal,
                                                     sender=sender)
        except Problem as refused:
            errors, problem = field_errors(refused.errors), refused
        else:
            return RedirectResponse(f"/ui/records/{sender}/{message_id}?answered={feedback_id}", status_code=303)
    view = await _view(request, user, sender, message_id)
    return _record_page(request, user, view, form, errors, problem, 422)
