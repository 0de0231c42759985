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
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from exchange.domain.problems import Problem
from exchange.entrypoints.http.errors import problem_response
from exchange.entrypoints.http.web import signin
from exchange.entrypoints.http.web.sessions import SAFE_METHODS, SignInRequired
from exchange.entrypoints.http.web.templating import HERE

#: Pages may load only what the node serves; nothing may frame them (clickjacking).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class PageHeaders(BaseHTTPMiddleware):
    """The security headers of every /ui response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/ui"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if not request.url.path.startswith("/ui/static"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response


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
