"""Signing in and out, and the language switch. The sign-in form has no session yet: its CSRF token is a random
value in a short-lived cookie that the form must repeat (double submit), so another site cannot sign a browser in
to an account of its choosing."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exchange.adapters.people import SignInRefused
from exchange.domain.problems import Problem
from exchange.entrypoints.http.auth import rate_limited
from exchange.entrypoints.http.deps import client_address
from exchange.entrypoints.http.web.sessions import (
    SESSION_COOKIE,
    SignedIn,
    people_of,
    same_token,
    secure_cookies,
)
from exchange.entrypoints.http.web.templating import LANG_COOKIE, LANGUAGES, page

SIGNIN_COOKIE = "mpx_signin"
#: Where the home page sends each kind of node's people: the workbench's to-do list, the dashboard.
HOME = {"node": "/ui/worklist", "monitor": "/ui/dashboard"}


def local(next_: str | None) -> str | None:
    """`next_` if it is a page of this node (never another site: an open redirect)."""
    return next_ if next_ and next_.startswith("/ui/") and not next_.startswith("/ui//") and "\\" not in next_ else None


router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse(HOME[request.app.state.node.settings.role], status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    return _form(request, next)


def _form(request: Request, next_: str | None, error: tuple[str, str] | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    request.state.signin_csrf = token
    response = page(request, "sign_in.html", status, next=local(next_) or "", error=error)
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/ui", httponly=True, samesite="strict",
                        secure=secure_cookies(request))
    return response


@router.post("/sign-in")
async def sign_in(request: Request, account: Annotated[str, Form(max_length=64)],
                  password: Annotated[str, Form(max_length=1024)], csrf_token: Annotated[str, Form()] = "",
                  next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    if not same_token(csrf_token, request.cookies.get(SIGNIN_COOKIE, "")):
        raise Problem("csrf_failed")
    # Wrong passwords from one address spend the same budget as invalid API keys (MPX_ADDRESS_REFUSALS_PER_MINUTE).
    refusals, address = request.app.state.auth.refusals, client_address(request)
    if address is not None and (wait := refusals.wait(address)):
        raise rate_limited(wait)
    try:
        token, session = await people_of(request).sign_in(account.strip().lower(), password)
    except SignInRefused as refused:
        if address is not None:
            refusals.take(address)
        error = (("账户已锁定，请稍后再试或联系管理员", "The account is locked: try again later or ask an administrator")
                 if refused.locked else ("账户或密码不正确", "Wrong account or password"))
        return _form(request, next, error, 401)
    response = RedirectResponse(local(next) or "/ui/", status_code=303)
    max_age = int((session.expires_at - session.expires_at.now(session.expires_at.tzinfo)).total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/ui", httponly=True, samesite="lax",
                        secure=secure_cookies(request))
    response.delete_cookie(SIGNIN_COOKIE, path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _: SignedIn) -> Response:
    await people_of(request).sign_out(request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: str | None = None) -> Response:  # noqa: A002
    """中文 / English: kept in a cookie for a year; back to the page the switch was pressed on."""
    response = RedirectResponse(local(next) or "/ui/", status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/ui", samesite="lax")
    return response
