"""`GET /metrics` in Prometheus' text format, and the request timings behind it, for nodes and monitors alike.

Open like /healthz unless MPX_METRICS_TOKEN is set (scrapers rarely hold API keys; the metrics carry no personal
data). Kept out of the OpenAPI document: it is for the operator's scraper, not for local systems.
"""

from __future__ import annotations

import hmac
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.adapters.metrics import CONTENT_TYPE_LATEST, HttpMetrics
from exchange.domain.problems import Problem


class RequestTimer:
    """Times every HTTP request under its route's template (`/v1/messages/{message_id}`), never its raw path."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            # The router puts the route that answered into the scope; none if no route matched.
            route = getattr(scope.get("route"), "path", None)
            self.metrics.request(scope["method"], route, time.perf_counter() - start)


def install(app: FastAPI, metrics: HttpMetrics, token: str) -> None:
    """Time the app's requests and serve its metrics; `token`: the bearer token /metrics needs (empty: none)."""
    app.add_middleware(RequestTimer, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Problem("unauthenticated", headers={"WWW-Authenticate": "Bearer"})
        await metrics.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
