"""The FastAPI application of one node."""


from contextlib import asynccontextmanager
from typing import Annotated, Any, AsyncIterator, TypeVar

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from exchange.api import errors, operations, rules
from exchange.api.auth import counties_for, require_county
from exchange.api.limits import BodySizeLimit
from exchange.api.views import Accepted, BatchAccepted, Health, InboxPage, MessageView, ProblemView, Readiness
from exchange.config import Settings
from exchange.node import Node
from exchange.outbound import BatchIn, FeedbackIn, MessageIn
from exchange.problems import Problem, validation_problem
from exchange.queries import Queries
from exchange.security.principals import Permission, Principal

M = TypeVar("M", bound=BaseModel)

PROBLEMS = {status: {"model": ProblemView, "content": {"application/problem+json": {}}}
            for status in (400, 403, 404, 409, 413, 415, 422)}


async def _body(request: Request, model: type[M]) -> M:
    """Parse a JSON body ourselves: our own problem for bad JSON, and no input echoed in errors."""
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


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _body_doc(model: type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}}}}


def _may_send(principal: Principal, items: list[MessageIn], served: frozenset[str]) -> None:
    """A key sends only as the counties it acts for (a sender the node does not serve is refused later)."""
    for item in items:
        if item.sender in served:
            require_county(principal, item.sender)


def create_app(settings: Settings) -> FastAPI:
    if settings.role == "monitor":
        from exchange.api.monitor import create_monitor_app

        return create_monitor_app(settings)
    node = Node(settings)
    queries = Queries(node.engine, settings.served, node.trust)

    def visible_to(principal: Principal, county: str | None = None) -> list[str]:
        return counties_for(principal, settings.served, county)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = FastAPI(
        title="Migrant-population exchange node 流动人口信息交换节点",
        version="1.0",
        description=f"Serves counties {', '.join(settings.counties)}. Errors are RFC 9457 problem JSON in Chinese and English.",
        lifespan=lifespan,
    )
    app.state.node = node
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    errors.install(app, node.engine)
    app.include_router(rules.router(node))
    app.include_router(operations.router(node))

    @app.post("/v1/messages", status_code=202, response_model=Accepted, responses=PROBLEMS,
              openapi_extra=_body_doc(MessageIn), tags=["messages"])
    async def post_message(request: Request, principal: Principal = Depends(node.auth.requires(Permission.SEND))
                           ) -> Response:
        """Validate, store durably and queue one message for delivery (202 once it is on disk)."""
        item = await _body(request, MessageIn)
        _may_send(principal, [item], settings.served)
        [message_id] = await node.outbound.submit([item], principal=principal.id)
        return _json({"id": message_id, "state": "accepted"}, 202)

    @app.post("/v1/messages/batch", status_code=202, response_model=BatchAccepted, responses=PROBLEMS,
              openapi_extra=_body_doc(BatchIn), tags=["messages"])
    async def post_batch(request: Request, principal: Principal = Depends(node.auth.requires(Permission.SEND))
                         ) -> Response:
        """Many messages at once: all are stored, or (on any error) none."""
        batch = await _body(request, BatchIn)
        _may_send(principal, batch.messages, settings.served)
        if len(batch.messages) > settings.max_batch:
            raise Problem("batch_too_large", f"at most {settings.max_batch} messages per batch",
                          f"每批最多 {settings.max_batch} 条报文")
        ids = await node.outbound.submit(batch.messages, principal=principal.id)
        return _json({"ids": ids, "count": len(ids)}, 202)

    @app.post("/v1/messages/{message_id}/feedback", status_code=202, response_model=Accepted, responses=PROBLEMS,
              openapi_extra=_body_doc(FeedbackIn), tags=["messages"])
    async def post_feedback(message_id: str, request: Request,
                            principal: Principal = Depends(node.auth.requires(Permission.ANSWER))) -> Response:
        """Answer a message this node's county received; the feedback travels back to its sender."""
        feedback = await _body(request, FeedbackIn)
        feedback_id = await node.outbound.answer(message_id, feedback, principal=principal)
        return _json({"id": feedback_id, "state": "accepted"}, 202)

    @app.get("/v1/messages/{message_id}", response_model=MessageView, responses=PROBLEMS, tags=["messages"])
    async def get_message(message_id: str, principal: Principal = Depends(node.auth.requires(Permission.READ))
                          ) -> Response:
        """The message, where it has got to (accepted, published, delivered, answered), and its feedback."""
        return _json(await queries.message(message_id, visible_to(principal)))

    @app.get("/v1/inbox", response_model=InboxPage, responses=PROBLEMS, tags=["messages"])
    async def get_inbox(
        county: Annotated[str | None, Query(description="Only this served county.")] = None,
        type: Annotated[str | None, Query(description="Only this message type.")] = None,  # noqa: A002
        answered: Annotated[bool | None, Query(description="true: answered; false: awaiting feedback.")] = None,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.page_max)] = 100,
        principal: Principal = Depends(node.auth.requires(Permission.READ)),
    ) -> Response:
        """Inbound messages for the caller's counties, oldest first."""
        counties = visible_to(principal, county)
        return _json(await queries.inbox(counties=counties, type_=type, answered=answered, cursor=cursor,
                                         limit=limit))

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """The process is alive."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, tags=["operations"])
    async def readyz() -> Response:
        """Database and Kafka broker both reachable."""
        checks = await node.ready()
        ok = all(checks.values())
        return _json({"status": "ready" if ok else "not ready", **checks}, 200 if ok else 503)

    return app
