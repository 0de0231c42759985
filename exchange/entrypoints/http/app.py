"""The FastAPI application of one node."""


from contextlib import asynccontextmanager
from typing import Annotated, Any, AsyncIterator

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response

from exchange.entrypoints.http import docs_pages, document, errors, keys, operations, rules, scrape
from exchange.entrypoints.http.auth import counties_for, require_county
from exchange.entrypoints.http.document import BODY, PARAMETERS, PERMITTED, problems
from exchange.entrypoints.http.errors import parse_body
from exchange.entrypoints.http.limits import BodySizeLimit
from exchange.entrypoints.http.schemas import Accepted, BatchAccepted, Health, InboxPage, MessageView, Readiness
from exchange.config import Settings
from exchange.bootstrap import Node
from exchange.production import refuse_unsafe
from exchange.domain.commands import ID_PATTERN, BatchIn, FeedbackIn, MessageIn
from exchange.domain.problems import Problem
from exchange.service.queries import Queries
from exchange.domain.principals import Permission, Principal

#: What sending a message can be refused with: a bad body, a county not the caller's or not served here, an
#: unknown message answered (404) or an id reused (409), and a full outbox while the broker is away (503).
SEND_PROBLEMS = problems(PERMITTED, BODY, 404, 409, 503)
#: A message id in a path, as the envelope allows it.
MessageIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
#: Which county sent the message: ids are each sender's own, so two senders may have used the same one.
SenderQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description=(
    "The county that sent the message. Needed only when the caller's counties received this id from more "
    "than one sender (answered with 409 sender_required, which lists them)."))]


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _may_send(principal: Principal, items: list[MessageIn], served: frozenset[str]) -> None:
    """A key sends only as the counties it acts for (a sender the node does not serve is refused later)."""
    for item in items:
        if item.sender in served:
            require_county(principal, item.sender)


def create_app(settings: Settings) -> FastAPI:
    refuse_unsafe(settings)  # in production, before anything is touched
    if settings.role == "monitor":
        from exchange.entrypoints.http.monitor import create_monitor_app

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

    app = docs_pages.application(  # /docs and /redoc need nothing from outside the node
        title="Migrant-population exchange node 流动人口信息交换节点",
        version="1.0",
        description=f"Serves counties {', '.join(settings.counties)}. Errors are RFC 9457 problem JSON in Chinese and English.",
        lifespan=lifespan,
    )
    app.state.node = node
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, metrics=node.metrics)
    scrape.install(app, node.metrics, settings.metrics_token.get_secret_value())
    errors.install(app, node.uow, node.metrics)
    document.complete(app)
    app.include_router(rules.router(node))
    app.include_router(operations.router(node))
    app.include_router(keys.router(node))

    @app.post("/v1/messages", status_code=202, response_model=Accepted, responses=SEND_PROBLEMS,
              openapi_extra=document.body(MessageIn), tags=["messages"])
    async def post_message(request: Request, principal: Principal = Depends(node.auth.requires(Permission.SEND))
                           ) -> Response:
        """Validate, store durably and queue one message for delivery (202 once it is on disk)."""
        item = await parse_body(request, MessageIn)
        _may_send(principal, [item], settings.served)
        [message_id] = await node.outbound.submit([item], principal=principal.id)
        return _json({"id": message_id, "state": "accepted"}, 202)

    @app.post("/v1/messages/batch", status_code=202, response_model=BatchAccepted, responses=SEND_PROBLEMS,
              openapi_extra=document.body(BatchIn), tags=["messages"])
    async def post_batch(request: Request, principal: Principal = Depends(node.auth.requires(Permission.SEND))
                         ) -> Response:
        """Many messages at once: all are stored, or (on any error) none."""
        batch = await parse_body(request, BatchIn)
        _may_send(principal, batch.messages, settings.served)
        if len(batch.messages) > settings.max_batch:
            raise Problem("batch_too_large", f"at most {settings.max_batch} messages per batch",
                          f"每批最多 {settings.max_batch} 条报文")
        ids = await node.outbound.submit(batch.messages, principal=principal.id)
        return _json({"ids": ids, "count": len(ids)}, 202)

    @app.post("/v1/messages/{message_id}/feedback", status_code=202, response_model=Accepted,
              responses=SEND_PROBLEMS, openapi_extra=document.body(FeedbackIn), tags=["messages"])
    async def post_feedback(message_id: MessageIdPath, request: Request, sender: SenderQuery = None,
                            principal: Principal = Depends(node.auth.requires(Permission.ANSWER))) -> Response:
        """Answer a message this node's county received; the feedback travels back to its sender."""
        feedback = await parse_body(request, FeedbackIn)
        feedback_id = await node.outbound.answer(message_id, feedback, principal=principal, sender=sender)
        return _json({"id": feedback_id, "state": "accepted"}, 202)

    @app.get("/v1/messages/{message_id}", response_model=MessageView,
             responses=problems(PERMITTED, PARAMETERS, 404, 409), tags=["messages"])
    async def get_message(message_id: MessageIdPath, sender: SenderQuery = None,
                          principal: Principal = Depends(node.auth.requires(Permission.READ))) -> Response:
        """The message, where it has got to (accepted, published, delivered, answered), and its feedback."""
        return _json(await queries.message(message_id, visible_to(principal), sender))

    @app.get("/v1/inbox", response_model=InboxPage, responses=problems(PERMITTED, PARAMETERS, 400),
             tags=["messages"])
    async def get_inbox(
        county: Annotated[str | None, Query(description="Only this served county.")] = None,
        type: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$",  # noqa: A002
                                          description="Only this message type.")] = None,
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
        """Database and Kafka broker both reachable, and no feed (keys, agreements, consumer, relay…) stopped."""
        checks = await node.ready()
        stopped = node.stopped()
        ok = all(checks.values()) and not stopped
        return _json({"status": "ready" if ok else "not ready", **checks, "stopped": stopped}, 200 if ok else 503)

    return app
