"""The FastAPI applications: a node's and a monitor's. Each factory builds the node (exchange.bootstrap) and what
only the HTTP entrypoint needs (`Auth`), puts them on `app.state` for `exchange.entrypoints.http.deps`, and
includes the routers of `exchange.entrypoints.http.routes`."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from exchange.bootstrap import MonitorNode, Node
from exchange.config import Settings
from exchange.entrypoints.http import docs_pages, document, errors, scrape, web
from exchange.entrypoints.http.auth import Auth
from exchange.entrypoints.http.limits import BodySizeLimit
from exchange.entrypoints.http.responses import OrjsonResponse
from exchange.entrypoints.http.routes import (
    agreements,
    calendars,
    health,
    keys,
    messages,
    obligations,
    operations,
    reminders,
    roster,
    webhooks,
    worklist,
)
from exchange.entrypoints.http.web import dashboard, workbench
from exchange.production import refuse_unsafe


def _lifespan(node: Node | MonitorNode) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The node starts with the app and stops with it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    return lifespan


def create_app(settings: Settings) -> FastAPI:
    refuse_unsafe(settings)  # in production, before anything is touched
    if settings.role == "monitor":
        return create_monitor_app(settings)
    node = Node(settings)
    app = docs_pages.application(  # /docs and /redoc need nothing from outside the node
        title="Migrant-population exchange node 流动人口信息交换节点",
        version="1.0",
        description=f"Serves counties {', '.join(settings.counties)}. Errors are RFC 9457 problem JSON in Chinese and English.",
        lifespan=_lifespan(node),
        default_response_class=OrjsonResponse,
    )
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, metrics=node.metrics)
    _serve(app, node, settings)
    # In this order: the paths of the OpenAPI document keep theirs.
    app.include_router(calendars.router)
    app.include_router(agreements.router)
    app.include_router(obligations.router(settings))
    app.include_router(reminders.router)
    app.include_router(operations.router(settings))
    app.include_router(roster.router)
    app.include_router(keys.router("node"))
    app.include_router(webhooks.router)
    app.include_router(messages.router(settings))
    app.include_router(worklist.router(settings))
    app.include_router(health.router)
    web.install(app, workbench.router)  # the county workbench (/ui/), not in the OpenAPI document
    return app


def create_monitor_app(settings: Settings) -> FastAPI:
    from exchange.entrypoints.http.routes import monitor

    node = MonitorNode(settings)
    app = docs_pages.application(
        title="Migrant-population exchange monitor 流动人口信息交换监测",
        version="1.0",
        description=f"Feedback timeliness for {monitor.scope_of(node)}. No personal data is ever held or returned here.",
        lifespan=_lifespan(node),
        default_response_class=OrjsonResponse,
    )
    _serve(app, node, settings)
    app.include_router(keys.router("monitor"))
    app.include_router(monitor.router)
    app.include_router(health.monitor_router)
    web.install(app, dashboard.router)  # the provincial dashboard (/ui/), not in the OpenAPI document
    return app


def _serve(app: FastAPI, node: Node | MonitorNode, settings: Settings) -> None:
    """What a node's and a monitor's apps share: the node and its authenticator on `app.state` (deps.py reads
    them), request metrics, problem JSON for every error, and the refusals each route documents."""
    app.state.node = node
    app.state.auth = Auth(settings, node.keys, node.metrics)
    scrape.install(app, node.metrics, settings.metrics_token.get_secret_value())
    errors.install(app, node.uow, node.metrics)
    document.complete(app)
