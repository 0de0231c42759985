"""Metrics label values come only from closed sets, whatever a client or a record carries; counts of a transaction
that rolls back are never added. A real node app on a real SQLite database, without a broker."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import MessageType
from exchange.adapters.metrics import (
    ANONYMOUS_REFUSALS,
    METHODS,
    OBLIGATION_EVENTS,
    OTHER,
    PROBLEM_CODES,
    PROBLEM_STATUSES,
    QUARANTINE_REASONS,
    TOPIC_KINDS,
    UNMATCHED,
    counted_transaction,
)
from exchange.adapters.sql.database import migrate
from exchange.config import Settings
from exchange.entrypoints.http.app import create_app

HUI, GERZE = "621227", "542526"
ID_NUMBER = "11010519491231002X"
MESSAGE_ID = "hui-2026-000123"


@pytest.fixture
async def app(tmp_path):
    """A node's app, its database migrated; the node itself (Kafka) is not started."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    app = create_app(Settings(counties=(HUI, GERZE), database_url=url, topic_partitions=8, topic_prefix="t"))
    yield app
    await app.state.node.engine.dispose()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def route_templates(routes) -> list[str]:  # noqa: ANN001
    """The path templates of an app's routes, those of the routers it includes too."""
    found = []
    for route in routes:
        if hasattr(route, "path"):
            found.append(route.path)
        else:  # a router included (FastAPI's _IncludedRouter)
            found += route_templates(route.original_router.routes)
    return found


def allowed_labels(app) -> dict[str, frozenset[str]]:  # noqa: ANN001
    """Every label name a node's metrics use, and the closed set its values come from."""
    served = frozenset(app.state.node.settings.counties)
    return {
        "type": frozenset(t.value for t in MessageType) | {OTHER},
        "county": served | {OTHER},
        "province": frozenset(c[:2] for c in served) | {OTHER},
        "partition": frozenset(str(p) for p in range(8)) | {OTHER},
        "reason": QUARANTINE_REASONS | {OTHER},
        "refusal": ANONYMOUS_REFUSALS | {OTHER},
        "event": OBLIGATION_EVENTS | {OTHER},
        "topic": TOPIC_KINDS | {OTHER},
        "code": PROBLEM_CODES | {OTHER},
        "status": PROBLEM_STATUSES | {OTHER},
        "method": METHODS | {OTHER},
        "route": frozenset(route_templates(app.routes)) | {UNMATCHED},
        "le": frozenset(),  # histogram bucket bounds: numbers fixed in exchange.adapters.metrics
    }


async def test_label_values_come_only_from_closed_sets(app):
    metrics = app.state.node.metrics
    # What a hostile client or a forged record could put where a label comes from.
    hostile = [ID_NUMBER, MESSAGE_ID, "王小明", "330203", "../../etc/passwd"]
    for value in hostile:
        metrics.accepted([(value, value), (MessageType.BIRTH.value, HUI)])
        metrics.received([(value, value)])
        metrics.quarantined(value)
        metrics.obligations(value, [value, GERZE])
        metrics.published([value, f"t.{value}", f"t.records.{value}", "t.records.62", "t.monitor"])
        metrics.lag(f"t.records.{value}", 9999, 5)
        metrics.lag("t.records.62", 3, 7)
        metrics.problem(value)
        metrics.anonymous_refusal(value)
        metrics.request(value, None, 0.01)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node.test") as client:
        assert (await client.get(f"/v1/messages/{MESSAGE_ID}")).status_code == 401  # no credentials
        assert (await client.get(f"/v1/people/{ID_NUMBER}")).status_code == 404
        assert (await client.request("BREW", "/v1/inbox")).status_code == 405
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")

    allowed = allowed_labels(app)
    found = samples(scraped.text)
    for name, labels, _ in found:
        for label, value in labels.items():
            assert label in allowed, f"{name}: label {label} has no closed set"
            if label != "le":
                assert value in allowed[label], f"{name}: {label}={value!r}"
    for value in hostile:
        assert value not in scraped.text.replace('county="330203"', "")  # 330203 is a real code, not served here
    assert ("mpx_http_problems_total", {"status": "401", "code": "unauthenticated"}, 1.0) in found
    assert ("mpx_http_request_duration_seconds_count", {"method": "GET", "route": "/v1/messages/{message_id}"},
            1.0) in found
    assert ("mpx_http_request_duration_seconds_count", {"method": "GET", "route": UNMATCHED}, 1.0) in found
    assert ("mpx_records_published_total", {"topic": "records"}, 10.0) in found  # two t.records.* per round
    assert ("mpx_records_published_total", {"topic": "monitor"}, 5.0) in found
    assert ("mpx_consumer_lag_records", {"province": "62", "partition": "3"}, 7.0) in found
    assert ("mpx_outbox_pending", {}, 0.0) in found
    assert ("mpx_obligations_overdue", {"county": HUI}, 0.0) in found


async def test_counts_of_a_transaction_rolled_back_are_not_added(app):
    node = app.state.node
    received = ("mpx_records_received_total", {"type": "birth", "county": HUI})

    def count() -> float:
        return next((v for n, labels, v in samples(node.metrics.render().decode()) if (n, labels) == received), 0.0)

    with pytest.raises(RuntimeError):
        async with counted_transaction(node.engine):
            node.metrics.received([("birth", HUI)] * 3)
            raise RuntimeError("the database refused the batch")
    assert count() == 0
    async with counted_transaction(node.engine):
        node.metrics.received([("birth", HUI)] * 3)
        assert count() == 0  # not before the commit
    assert count() == 3


async def test_a_metrics_token_when_set_is_required(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    app = create_app(Settings(counties=(HUI,), database_url=url, metrics_token="scrape-secret"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node.test") as client:
            refused = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
            scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert refused.status_code == wrong.status_code == 401
        assert refused.json()["type"] == "urn:mpx:problem:unauthenticated"
        assert scraped.status_code == 200 and "mpx_http_problems_total" in scraped.text
        assert "/metrics" not in app.openapi()["paths"]
    finally:
        await app.state.node.engine.dispose()
