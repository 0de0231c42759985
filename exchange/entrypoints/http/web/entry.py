"""Entering records (录入): a form per record type and the verification request, checked as the clerk types (the
contract's own rules, called over htmx) and again on sending (`Outbound.submit`, as POST /v1/messages); and batch
import from Excel (批量导入): the template, a preview with each row's problems, then the rows without any sent."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from adapters.workbook import SheetError, read, row_id, template
from contracts import RECORD_TYPES, MessageType
from exchange.domain.commands import MessageIn
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import require_county
from exchange.entrypoints.http.exports import XLSX
from exchange.entrypoints.http.web.forms import check, field_errors, fields, payload
from exchange.entrypoints.http.web.sessions import SendingPerson, WebUser
from exchange.entrypoints.http.web.templating import page

router = APIRouter(include_in_schema=False)  # under /ui/ (workbench.router)
#: What a clerk enters here: the four record types and the verification request (协查).
ENTERED = sorted(RECORD_TYPES)
#: Their Chinese names.
NAMES = {MessageType.OUTFLOW_REGISTRATION: "流出登记", MessageType.BIRTH: "出生登记", MessageType.PREGNANCY_CHECK: "孕环情检查",
         MessageType.RETURN_CANCELLATION: "返回注销", MessageType.VERIFICATION_REQUEST: "协查请求"}
RecordType = Annotated[MessageType, Path()]


def _entered(message_type: MessageType) -> MessageType:
    if message_type not in RECORD_TYPES:
        raise Problem("unknown_message_type", "not a record type", "不是可录入的报文类型")
    return message_type


async def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _entry_page(request: Request, user: WebUser, message_type: MessageType, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, problem: Problem | None = None, status: int = 200) -> Response:
    form, errors = form or {}, errors or {}
    return page(request, "enter.html", status, message_type=message_type, name=NAMES[message_type],
                fields=fields(message_type, form, errors), form=form, errors=errors, problem=problem,
                check_url=f"/ui/new/{message_type.value}/check")


@router.get("/new", response_class=HTMLResponse)
async def choose(request: Request, user: SendingPerson) -> Response:
    return page(request, "enter_choose.html", types=[(t.value, NAMES[t]) for t in ENTERED])


@router.get("/new/{message_type}", response_class=HTMLResponse)
async def entry_form(request: Request, message_type: RecordType, user: SendingPerson) -> Response:
    return _entry_page(request, user, _entered(message_type))


@router.post("/new/{message_type}/check", response_class=HTMLResponse)
async def check_as_typed(request: Request, message_type: RecordType, user: SendingPerson) -> Response:
    """The contract's verdict on what is filled in so far: each filled input's error (or none), swapped in beside it
    by htmx (out of band). An empty input says nothing until the form is sent."""
    form = await _form(request)
    data, errors = payload(_entered(message_type), form)
    errors = {**check(message_type, data), **errors}
    spans = [Markup('<span class="error" id="error-{}" role="alert" hx-swap-oob="true">{}</span>').format(
        f.dom_id, errors.get(f.name, "") if form.get(f.name) else "") for f in fields(message_type)]
    return HTMLResponse(Markup("").join(spans))


@router.post("/new/{message_type}", response_class=HTMLResponse)
async def enter(request: Request, message_type: RecordType, user: SendingPerson) -> Response:
    """Send the record as the signed-in clerk's county (Outbound.submit): nothing is sent unless all of it is right."""
    node = request.app.state.node
    form = await _form(request)
    data, errors = payload(_entered(message_type), form)
    sender = form.get("sender", "")
    require_county(user.principal, sender)
    problem = None
    if not errors:
        try:
            item = MessageIn(type=message_type.value, sender=sender, receiver=form.get("receiver", ""), data=data)
            [message_id] = await node.outbound.submit([item], principal=user.principal.id)
        except ValidationError:
            errors = {"receiver": "应为 6 位县级行政区划代码 / a 6-digit county code"}
        except Problem as refused:
            errors, problem = field_errors(refused.errors), refused
        else:
            return RedirectResponse(f"/ui/records/{sender}/{message_id}", status_code=303)
    return _entry_page(request, user, message_type, form, errors, problem, 422)


@router.get("/import", response_class=HTMLResponse)
async def import_form(request: Request, user: SendingPerson) -> Response:
    return page(request, "import.html", types=[(t.value, NAMES[t]) for t in ENTERED], rows=None)


@router.get("/import/template/{message_type}")
async def import_template(message_type: RecordType, user: SendingPerson) -> Response:
    """The Excel template of a record type (as `mpx template`): Chinese headings, drop-downs, an example row."""
    return Response(template(_entered(message_type)), media_type=XLSX,
                    headers={"content-disposition": f'attachment; filename="{message_type.value}.xlsx"'})


@router.post("/import", response_class=HTMLResponse)
async def import_sheet(request: Request, user: SendingPerson) -> Response:
    """An uploaded sheet: first a preview (each row's problems, in Chinese); then, asked again with the same file
    (carried in the page), the rows without problems sent one by one, each refusal shown beside its row. Row ids
    come from the file's digest, so sending the same file twice sends nothing twice."""
    node = request.app.state.node
    form = await request.form()
    message_type = _entered(MessageType(str(form.get("type", ""))))
    sender = str(form.get("sender", ""))
    require_county(user.principal, sender)
    upload = form.get("file")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            content, filename = await upload.read(), upload.filename
        else:
            content, filename = base64.b64decode(str(form.get("content", "")), validate=True), str(form.get("filename"))
        rows = read(content, filename, message_type, sender)
    except (SheetError, binascii.Error) as bad:
        zh = bad.zh if isinstance(bad, SheetError) else "文件无效"
        return page(request, "import.html", 422, types=[(t.value, NAMES[t]) for t in ENTERED], rows=None, error=zh)
    sent: dict[int, str] = {}
    sending = form.get("send") == "1"
    if sending:
        digest = hashlib.sha256(content).hexdigest()
        for row in rows:
            if row.problems:
                continue
            try:
                item = MessageIn(**{**row.message, "id": row_id(digest, row)})
                [sent[row.number]] = await node.outbound.submit([item], principal=user.principal.id)
            except ValidationError:
                row.problems.append("接收地：应为 6 位县级行政区划代码 / receiver: a 6-digit county code")
            except Problem as refused:
                body = refused.body()
                row.problems += [f"{e['field']}：{e['message_zh']}" for e in refused.errors] or [
                    f"{body['title_zh']}：{body['detail_zh']}"]
    return page(request, "import.html", types=[(t.value, NAMES[t]) for t in ENTERED], rows=rows, sent=sent,
                sending=sending, message_type=message_type.value, sender=sender, filename=filename,
                content=base64.b64encode(content).decode(), good=sum(1 for r in rows if not r.problems))
