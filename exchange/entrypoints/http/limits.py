"""Request body size limit, enforced before the body is read into memory."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.adapters.metrics import HttpMetrics
from exchange.domain.problems import PROBLEM_JSON, Problem


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 problem JSON for a body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int, metrics: HttpMetrics):
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = Problem(
            "payload_too_large", f"the limit is {self.limit} bytes", f"请求体上限为 {self.limit} 字节"
        )
        body = orjson.dumps(problem.body(scope.get("path")))
        self.metrics.problem(problem.code)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
