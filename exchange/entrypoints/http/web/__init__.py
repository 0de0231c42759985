"""The pages people use in a browser: the county workbench on a node, the provincial dashboard on a monitor.

Server-rendered (Jinja2, exchange/entrypoints/http/web/templates) with htmx for partial updates, every asset served by
the node from /ui/static (no CDN: offices may have no internet). Pages call the same services as the API and act
as the signed-in person's principal (exchange/domain/people.py), so the API's rules and jurisdiction hold here too.
They are kept out of the OpenAPI document.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.domain.problems import Problem
from exchange.entrypoints.http.errors import problem_response
from exchange.entrypoints.http.web import signin
from exchange.entrypoints.http.web.sessions import SAFE_METHODS, SignInRequired
from exchange.entrypoints.http.web.templating import HERE

#: Pages may load only what the node serves; nothing may frame them (clickjacking).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class PageHeaders:
    """The security headers of every /ui response (plain ASGI: the API's requests pass through untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/ui"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not path.startswith("/ui/static"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, *routers: APIRouter) -> None:
    """Serve the pages on `app`: static files, sign-in and -out, and `routers` (the workbench's or the dashboard's)."""
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_middleware(PageHeaders)
    app.include_router(signin.router)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/sign-in?next={quote(target)}", status_code=303)
        return problem_response(Problem("unauthenticated", "sign in first", "请先登录"), request)
