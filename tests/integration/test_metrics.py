"""What an operator scrapes from GET /metrics after real traffic between two nodes on the session's Kafka, on SQLite
and on PostgreSQL: exact counts on both sides, quarantined records under their reason code, refusals under their
problem code, and never a name, an ID number or a message id."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import MessageType
from exchange.domain.clock import utcnow
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_privacy import ID_NUMBER, exchange_people, people_in
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message
from tests.integration.test_trust import behind, forged, produce

pytestmark = pytest.mark.integration

#: The counters a test compares whole: every series of them a node has, with its exact value.
COUNTERS = ("mpx_messages_accepted_total", "mpx_records_published_total", "mpx_records_received_total",
            "mpx_records_duplicate_total", "mpx_delivery_receipts_received_total", "mpx_records_quarantined_total",
            "mpx_obligations_total", "mpx_http_problems_total")

Series = tuple[str, frozenset[tuple[str, str]]]


def series(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


async def scrape(http: httpx.AsyncClient) -> dict[Series, float]:
    answer = await http.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


async def counters(node: RunningNode) -> dict[Series, float]:
    """The node's counters that are not zero."""
    return {key: value for key, value in (await scrape(node.http)).items() if key[0] in COUNTERS and value}


def reaches(node: RunningNode, expected: dict[Series, float]):  # noqa: ANN201
    """For eventually(): the node's counters once they are exactly `expected`."""
    async def check() -> dict[Series, float] | None:
        found = await counters(node)
        return found if found == expected else None
    return check


async def settled(node: RunningNode, expected: dict[Series, float], what: str) -> None:
    try:
        await eventually(reaches(node, expected), what=what)
    except AssertionError:
        assert await counters(node) == expected  # shows the difference
        raise


async def test_a_round_trip_shows_in_both_nodes_metrics_as_exact_counts(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)

    sent = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    await eventually(lambda: _state_is(hui, sent, "delivered"), what="the record delivered")
    # Due in five working days; sixty days on, it would be overdue (counted now, for a time given).
    await haishu.node.metrics.count_overdue(utcnow() + timedelta(days=60))
    assert haishu.node.metrics.registry.get_sample_value("mpx_obligations_overdue", {"county": HAISHU}) == 1
    await haishu.client.answer(sent, feedback("confirmed"))
    await eventually(lambda: _state_is(hui, sent, "answered"), what="the feedback back at the sender")
    await haishu.node.metrics.count_overdue(utcnow() + timedelta(days=60))
    assert haishu.node.metrics.registry.get_sample_value("mpx_obligations_overdue", {"county": HAISHU}) == 0

    # Refused: a person born in 1900 (the ID number says otherwise), a county Hui's node does not serve, a bad key.
    posted = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2)
    posted["data"]["person"]["birth_date"] = "1900-01-01"
    assert (await hui.http.post("/v1/messages", json=posted)).status_code == 422
    not_served = message(MessageType.OUTFLOW_REGISTRATION, HAISHU, HUI, 3)
    assert (await hui.http.post("/v1/messages", json=not_served)).status_code == 403
    assert (await hui.http.get("/v1/inbox", headers={"Authorization": "Bearer nope"})).status_code == 401

    await settled(hui, {
        series("mpx_messages_accepted_total", type="outflow_registration", county=HUI): 1,
        series("mpx_records_published_total", topic="records"): 2,  # the record; the receipt for the feedback
        series("mpx_delivery_receipts_received_total"): 1,
        series("mpx_records_received_total", type="feedback", county=HUI): 1,
        series("mpx_http_problems_total", status="422", code="validation_failed"): 1,
        series("mpx_http_problems_total", status="403", code="sender_not_served"): 1,
        series("mpx_http_problems_total", status="401", code="unauthenticated"): 1,
    }, what="the sender's counts")
    await settled(haishu, {
        series("mpx_records_received_total", type="outflow_registration", county=HAISHU): 1,
        series("mpx_messages_accepted_total", type="feedback", county=HAISHU): 1,
        series("mpx_records_published_total", topic="records"): 2,  # the receipt; the feedback
        series("mpx_records_published_total", topic="monitor"): 2,  # the obligation opened, answered
        series("mpx_delivery_receipts_received_total"): 1,  # for the feedback
        series("mpx_obligations_total", event="opened", county=HAISHU): 1,
        series("mpx_obligations_total", event="answered", county=HAISHU): 1,
    }, what="the receiver's counts")

    scraped = await scrape(hui.http)
    assert scraped[series("mpx_http_request_duration_seconds_count", method="POST", route="/v1/messages")] == 3
    assert scraped[series("mpx_relay_failing")] == 0 and scraped[series("mpx_broker_connected")] == 1
    assert scraped[series("mpx_outbox_pending")] == 0  # counted at this first scrape: all published


async def test_quarantined_records_show_under_their_reason_code(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    topic, partition = haishu.node.topics.address(HAISHU)
    headers, value = forged(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 5)["data"])  # unsigned
    await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    await produce(federation.bootstrap, topic, partition, HAISHU, b"not a CloudEvent", [])
    await behind(federation, hui, haishu, 6)

    found = await scrape(haishu.http)
    assert found[series("mpx_records_quarantined_total", reason="unsigned")] == 1
    assert found[series("mpx_records_quarantined_total", reason="undecodable")] == 1
    assert found[series("mpx_records_received_total", type="outflow_registration", county=HAISHU)] == 1
    lag = series("mpx_consumer_lag_records", province=HAISHU[:2], partition=str(partition))

    async def caught_up() -> bool:  # the lag is as of the last batch stored: the next batch may still be on its way
        return (await scrape(haishu.http))[lag] == 0

    await eventually(caught_up, timeout=10, what="no consumer lag at 330203")
    # Each quarantined record went to the dead-letter topic through the outbox.
    await eventually(lambda: _published(haishu, "deadletter", 2), what="two dead letters published")


async def test_no_metric_carries_a_name_an_id_number_or_a_message_id(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    monitor = await federation.start_monitor("all")
    # Personal data delivered, answered, and refused.
    sent, ids, _ = await exchange_people(hui, haishu, first_seed=41)
    # And quarantined:
    topic, partition = haishu.node.topics.address(HAISHU)
    unsigned = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 61)
    sent.append(unsigned)
    headers, value = forged(unsigned["data"])
    await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    await behind(federation, hui, haishu, 62)
    await eventually(lambda: _applied(monitor), what="the monitor applied the obligations' events")

    texts = [(await client.get("/metrics")).text for client in (hui.http, haishu.http, monitor)]
    names, numbers = people_in(sent)
    assert len(names) >= 5 and len(numbers) >= 5
    for text in texts:
        assert "mpx_http_request_duration_seconds" in text
        # Every word of the text but sample values (whose decimals may run to 18 digits): help, names, labels.
        words = [w for family in text_string_to_metric_families(text)
                 for w in (family.documentation, *(x for s in family.samples for x in (s.name, *s.labels.values())))]
        assert len(words) > 50
        for word in words:
            assert not ID_NUMBER.search(word), f"an ID number in: {word}"
        assert not any(number in text for number in numbers)
        assert not any(name in text for name in names)
        assert not any(message_id in text for message_id in ids)
    print(f"scanned {sum(len(t) for t in texts)} characters of metrics: no name, ID number or message id")


async def _state_is(node: RunningNode, message_id: str, state: str) -> bool:
    return (await node.client.message(message_id))["state"] == state


async def _published(node: RunningNode, kind: str, count: int) -> bool:
    return (await scrape(node.http)).get(series("mpx_records_published_total", topic=kind)) == count


async def _applied(monitor: httpx.AsyncClient) -> bool:
    return (await scrape(monitor)).get(series("mpx_monitor_events_applied")) > 0
