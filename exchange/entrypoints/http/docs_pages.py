"""/docs and /redoc served whole by the node (nodes and monitors alike), for intranets and where CDNs are blocked.

Swagger UI's and ReDoc's scripts and styles come from the `fastapi-offline` package, mounted by the node; no Google
font is asked for. ReDoc's sidebar would still fetch its maker's logo from a CDN, so the two pages carry a Content
Security Policy that lets the browser load nothing from anywhere but the node: what the page needs is all here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = frozenset({"/docs", "/redoc"})
#: Inline scripts start the pages; ReDoc runs its search in a worker made from a blob.
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
          "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'")


def application(**settings: Any) -> FastAPI:
    """A FastAPI app whose documentation pages need nothing from outside the node."""
    app = FastAPIOffline(**settings)
    app.add_middleware(LocalOnly)
    return app


class LocalOnly:
    """Adds the policy to the documentation pages; every other request passes untouched."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PAGES:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", POLICY.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)
