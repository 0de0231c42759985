"""Every error leaves the node as RFC 9457 problem JSON."""

from __future__ import annotations

import logging
import re
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from exchange.adapters.metrics import HttpMetrics
from exchange.domain.events import Noted
from exchange.domain.problems import PROBLEM_JSON, Problem, message_zh, validation_problem
from exchange.service.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


async def parse_body(request: Request, model: type[M]) -> M:
    """Parse a JSON body ourselves: our own problems for another media type (415) and bad JSON (400), and field
    errors that never echo the input (422)."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Problem("unsupported_media_type")
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Problem("malformed_json") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def problem_response(problem: Problem, request: Request) -> Response:
    return Response(
        orjson.dumps(problem.body(request.url.path)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install(app: FastAPI, uow: UnitOfWorkFactory, metrics: HttpMetrics) -> None:
    """Answer every error as problem JSON; `metrics` counts each answer by its problem code."""

    def answer(problem: Problem, request: Request) -> Response:
        metrics.problem(problem.code)
        return problem_response(problem, request)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if exc.status in (401, 403) and getattr(request.state, "principal", None):
            # A refusal of a known principal leaves no trace but this line of the evidence chain. One without a valid
            # credential is only counted (exchange.entrypoints.http.auth): anyone may make them, and the chain's lock is the one
            # every accepted message needs.
            async with uow() as refusal:
                refusal.record(Noted("refused", principal=request.state.principal,
                                     detail={"code": exc.code, "method": request.method, "path": request.url.path}))
        return answer(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": "/".join(map(str, e["loc"])), "code": e["type"], "message": e["msg"],
             "message_zh": message_zh(e["type"]) + (f"，应为 {expected}" if (expected := e.get("ctx", {}).get(
                 "expected")) else "")}
            for e in exc.errors()
        ]
        return answer(Problem("bad_request" if not errors else "validation_failed", errors=errors), request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "bad_request")
        problem = Problem(code)
        if exc.status_code == 405:  # RFC 9110 §15.5.6: a 405 lists the methods the resource allows
            problem.headers["Allow"] = ", ".join(_allowed(app, request))
        return answer(problem, request)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Only the exception's type is logged: its message may quote stored data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return answer(Problem("internal_error"), request)


def _allowed(app: FastAPI, request: Request) -> list[str]:
    """The methods the document gives the requested path: the path itself if the document has it, else every
    template it fits. (Starlette's own Allow names only the first route's methods, and GET and POST of one path are
    two routes here.) HEAD is answered wherever GET is."""
    path = request.url.path
    paths: dict[str, Any] = app.openapi()["paths"]
    fitting = [path] if path in paths else [
        template for template in paths if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path)]
    methods = {method.upper() for template in fitting for method in paths[template]}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


__all__ = ["install", "parse_body", "problem_response"]
