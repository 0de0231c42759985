"""Who is signed in to the pages, and the checks every page request passes.

The session cookie (HttpOnly, SameSite=Lax, Secure over https and in production, path /ui) holds a random token;
the node keeps its hash, expiry and CSRF token (exchange/adapters/people.py), so signing out and expiry are real.
Every unsafe request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token, as the form field
`csrf_token` or the header `X-CSRF-Token` (htmx sends it from the page's `hx-headers`); the comparison is in
constant time. A page asks for `SignedIn` (any person of this node) or `requires_person(Permission...)`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from exchange.adapters.people import PersonStore
from exchange.domain.people import Person
from exchange.domain.principals import Permission, Principal
from exchange.domain.problems import Problem
from exchange.entrypoints.http.deps import require_permission

SESSION_COOKIE = "mpx_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No live session: a page is sent to the sign-in page, an unsafe request refused (exchange.entrypoints.http.web)."""


@dataclass(frozen=True)
class WebUser:
    """The signed-in person, what it may do (its principal: the API's roles and jurisdiction) and its CSRF token."""

    person: Person
    principal: Principal
    csrf_token: str

    @property
    def counties(self) -> list[str]:
        return sorted(self.person.counties)

    def may(self, permission: Permission) -> bool:
        return self.principal.may(permission)


def people_of(request: Request) -> PersonStore:
    return request.app.state.node.people


def secure_cookies(request: Request) -> bool:
    """Secure cookies over https, and always in production (behind a proxy that ends TLS)."""
    return request.url.scheme == "https" or request.app.state.node.settings.env == "production"


async def csrf_sent(request: Request) -> str:
    """The CSRF token a request carries: its header, else its form field."""
    if token := request.headers.get(CSRF_HEADER):
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def same_token(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


async def signed_in(request: Request) -> WebUser:
    """The signed-in person of this node, its CSRF token checked on every unsafe request (403 csrf_failed)."""
    token = request.cookies.get(SESSION_COOKIE)
    session = await people_of(request).session(token) if token else None
    if session is None:
        raise SignInRequired()
    user = WebUser(session.person, session.person.principal, session.csrf_token)
    request.state.principal = user.principal.id  # a refusal from here on is a line of the evidence chain
    request.state.web_user = user
    if request.method not in SAFE_METHODS and not same_token(await csrf_sent(request), session.csrf_token):
        raise Problem("csrf_failed")
    return user


SignedIn = Annotated[WebUser, Depends(signed_in)]


def requires_person(permission: Permission) -> Callable[[WebUser], Awaitable[WebUser]]:
    """A dependency: the signed-in person, whose role must hold `permission` (403 forbidden otherwise)."""

    async def permitted(user: SignedIn) -> WebUser:
        require_permission(user.principal, permission)  # as the API refuses a key of the same role
        return user

    return permitted


#: A person who may enter records (a clerk).
SendingPerson = Annotated[WebUser, Depends(requires_person(Permission.SEND))]
#: A person who may answer records (a clerk).
AnsweringPerson = Annotated[WebUser, Depends(requires_person(Permission.ANSWER))]
#: A person who may read their counties' records (a clerk or a viewer).
ReadingPerson = Annotated[WebUser, Depends(requires_person(Permission.READ))]
#: A person of a monitor (the provincial dashboard): sees only its provinces (`principal.oversees`).
MonitoringPerson = Annotated[WebUser, Depends(requires_person(Permission.MONITOR))]
