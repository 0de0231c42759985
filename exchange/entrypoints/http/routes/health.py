"""Liveness and readiness, for load balancers and orchestrators: open, like /metrics without a token.

A node documents its answers (`Health`, `Readiness`); a monitor's routes are the same but, as before, leave their
answers undocumented (`monitor_router`)."""

from typing import Any

from fastapi import APIRouter, Response

from exchange.bootstrap import MonitorNode, Node
from exchange.entrypoints.http.deps import AnyNodeDep, NodeDep
from exchange.entrypoints.http.models import Health, Readiness

router = APIRouter(tags=["operations"])
monitor_router = APIRouter(tags=["operations"])


async def _readiness(node: Node | MonitorNode, response: Response) -> dict[str, Any]:
    """Database and broker reachable, no feed stopped: 200, else 503 with the same body."""
    checks = await node.ready()
    stopped = node.stopped()
    ok = all(checks.values()) and not stopped
    if not ok:
        response.status_code = 503
    return {"status": "ready" if ok else "not ready", **checks, "stopped": stopped}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(node: NodeDep, response: Response) -> dict[str, Any]:
    """Database and Kafka broker both reachable, and no feed (keys, agreements, consumer, relay…) stopped."""
    return await _readiness(node, response)


@monitor_router.get("/healthz", name="healthz")
async def monitor_healthz() -> dict:
    return {"status": "ok"}


@monitor_router.get("/readyz", name="readyz", response_model=None)
async def monitor_readyz(node: AnyNodeDep, response: Response) -> dict[str, Any]:
    return await _readiness(node, response)
