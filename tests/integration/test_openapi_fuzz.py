"""Schemathesis against a real node's OpenAPI document: whatever a local system sends, valid or not, the node never
answers 5xx, and every answer (status, content type, body) is one the document declares.

The node is a real one (PostgreSQL, the session's Apache Kafka), called in-process through its ASGI app with the
credentials a local system has: its county system's API key, and the admin token for the admin endpoints. Requests
are generated from the document itself, schema-valid and schema-violating ones, plus real records (valid messages
and feedback, the id of a record the node holds) so the paths that accept something are checked too. A bounded
number per operation, derived the same way on every run (``derandomize``): CI runs the same requests each time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python import asgi
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts import MessageType
from contracts.examples import example_payload
from exchange.adapters.crypto.payload_crypto import new_key
from exchange.config import Settings
from exchange.entrypoints.http.app import create_app
from tests.integration.conftest import test_key as new_api_key
from tests.integration.test_round_trip import GERZE, HUI, feedback, message

ADMIN = "fuzz-admin-token"
pytestmark = pytest.mark.filterwarnings(
    # Schemathesis' own strategies draw from `random`, which Hypothesis seeds for each example (so still repeatable).
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Fuzzed requests per operation (on top of the coverage phase's boundary cases), few enough for `make test` on
#: two cores: the module takes well under a minute.
BOUNDED = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

#: Every operation of the node's document, and who calls it: the county's local system, or the admin token.
#: A test below fails when the document gains or loses an operation, so none goes unfuzzed.
OPERATIONS: dict[str, str] = {
    "POST /v1/messages": "county",
    "POST /v1/messages/batch": "county",
    "POST /v1/messages/{message_id}/feedback": "county",
    "POST /v1/messages/{message_id}/withdrawal": "county",
    "POST /v1/messages/{message_id}/clarification-request": "county",
    "POST /v1/messages/{message_id}/clarification": "county",
    "POST /v1/messages/{message_id}/verification-steps": "county",
    "GET /v1/messages/{message_id}": "county",
    "GET /v1/inbox": "county",
    "GET /v1/worklist": "county",
    "GET /v1/calendar/{region}": "county",
    "GET /v1/calendar/{region}/overrides": "county",
    "POST /v1/calendar/overrides": "admin",
    "GET /v1/agreements": "county",
    "POST /v1/agreements": "admin",
    "GET /v1/obligations": "county",
    "GET /v1/reminders": "county",
    "GET /v1/quarantine": "admin",
    "POST /v1/quarantine/{seq}/replay": "admin",
    "POST /v1/reconciliation/run": "admin",
    "GET /v1/reconciliation": "county",
    "POST /v1/admin/roster-runs": "admin",
    "GET /v1/roster": "county",
    "POST /v1/admin/keys": "admin",
    "GET /v1/admin/keys": "admin",
    "DELETE /v1/admin/keys/{key_id}": "admin",
    # Webhooks: the node has no MPX_WEBHOOK_HOSTS, so no subscription is made and nothing is posted anywhere.
    "POST /v1/admin/webhooks": "county",
    "GET /v1/admin/webhooks": "county",
    "GET /v1/admin/webhooks/{webhook_id}": "admin",
    "POST /v1/admin/webhooks/{webhook_id}/pause": "county",
    "POST /v1/admin/webhooks/{webhook_id}/resume": "admin",
    "GET /v1/admin/webhooks/{webhook_id}/deliveries": "county",
    "POST /v1/admin/webhooks/{webhook_id}/deliveries/{seq}/retry": "admin",
    "POST /v1/admin/webhooks/{webhook_id}/retry": "county",
    "GET /healthz": "county",
    "GET /readyz": "county",
}


@dataclass
class FuzzedNode:
    schema: schemathesis.BaseSchema
    county_key: str
    #: A record Hui sent to Gêrzê (both served here): in Hui's outbox and in Gêrzê's inbox.
    record_id: str
    #: Keys of Hui's counter staff an admin made, for the admin to revoke (never the county system's own key).
    revocable_key_ids: list[str]
    #: Another record Hui sent Gêrzê, never answered: Hui withdraws it (the other one gets feedback first).
    withdrawable_id: str = ""
    #: A third record Hui sent Gêrzê, open: Gêrzê asks Hui to clarify it.
    clarifiable_id: str = ""
    #: A clarification request Gêrzê sent Hui about a fourth record: Hui answers it.
    request_id: str = ""
    #: A verification request Hui sent Gêrzê: Gêrzê reports its steps.
    verification_id: str = ""

    def token(self, operation: str) -> str:
        return ADMIN if OPERATIONS[operation] == "admin" else self.county_key


@pytest.fixture(scope="module")
def fuzzed_node(kafka_bootstrap: str, make_postgres_database) -> Iterator[FuzzedNode]:
    key = new_api_key()
    prefix = f"t{uuid.uuid4().hex[:10]}"
    app = create_app(Settings(
        bootstrap_key=key, node_id=f"{prefix}-fuzz", counties=(HUI, GERZE), admin_token=ADMIN,
        database_url=make_postgres_database(), kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
        relay_idle_seconds=0.2, rate_limit_per_minute=0, address_refusals_per_minute=0, payload_keys=f"t1:{new_key()}",
    ))
    # Loading the document through the app starts the node (its lifespan) on schemathesis' event-loop thread.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        _wait(lambda: app.state.node.broker_connected, "the node to connect to Kafka")
        with asgi.get_client(app) as client:
            headers = {"Authorization": f"Bearer {key}"}
            sent = client.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE),
                               headers=headers)
            assert sent.status_code == 202, sent.text
            record_id = sent.json()["id"]
            _wait(lambda: client.get(f"/v1/messages/{record_id}", headers=headers).json()["state"] == "delivered",
                  "the record to reach Gêrzê")
            second = client.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, 2),
                                 headers=headers)
            assert second.status_code == 202, second.text
            clarifiable, asked = (
                client.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, n),
                            headers=headers).json()["id"] for n in (3, 4))
            for record in (clarifiable, asked):
                _wait(lambda r=record: client.get(f"/v1/messages/{r}", headers=headers).json()["state"] == "delivered",
                      "the record (and its obligation) at Gêrzê")
            request = client.post(f"/v1/messages/{asked}/clarification-request", headers=headers,
                                  json={"data": {"reason": "other", "question": "请补充"}})
            assert request.status_code == 202, request.text
            request_id = request.json()["id"]
            _wait(lambda: client.get(f"/v1/messages/{request_id}", headers=headers).json()["state"] == "delivered",
                  "the clarification request to reach Hui")
            verification = client.post("/v1/messages", headers=headers, json={
                "type": "verification_request", "sender": HUI, "receiver": GERZE,
                "data": example_payload(MessageType.VERIFICATION_REQUEST, registration_region=HUI)})
            assert verification.status_code == 202, verification.text
            verification_id = verification.json()["id"]
            _wait(lambda: client.get(f"/v1/messages/{verification_id}", headers=headers).json()["state"]
                  == "delivered", "the verification request to reach Gêrzê")
            revocable = []
            for n in range(3):
                made = client.post("/v1/admin/keys", json=counter_key(n), headers={"Authorization": f"Bearer {ADMIN}"})
                assert made.status_code == 201, made.text
                revocable.append(made.json()["key_id"])
        yield FuzzedNode(schema, key, record_id, revocable, second.json()["id"], clarifiable, request_id,
                         verification_id)
    finally:
        asgi.shutdown_lifespans()


def _wait(predicate, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def counter_key(n: int) -> dict:
    """A key for a counter of Hui's office, as an admin asks for one."""
    return {"role": "county_operator", "counties": [HUI], "name": f"徽县窗口 {n}", "days": 1 + n % 3650}


def real_requests(operation: schemathesis.APIOperation, node: FuzzedNode) -> list[st.SearchStrategy]:
    """Requests a local system (or its admin) really makes: valid records from Hui to Gêrzê, the real record's id,
    keys for Hui's counters, and revoking them."""
    seeds = st.integers(min_value=0, max_value=40)
    label = operation.label
    if label == "POST /v1/admin/keys":
        return [seeds.flatmap(lambda s: operation.as_strategy(body=counter_key(s)))]
    if label == "DELETE /v1/admin/keys/{key_id}":
        return [st.sampled_from(node.revocable_key_ids).flatmap(
            lambda key_id: operation.as_strategy(path_parameters={"key_id": key_id}))]
    if label == "POST /v1/messages":
        return [seeds.flatmap(lambda s: operation.as_strategy(
            body=message(MessageType.PREGNANCY_CHECK if s % 2 else MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, s)))]
    if label == "POST /v1/messages/batch":
        return [seeds.flatmap(lambda s: operation.as_strategy(
            body={"messages": [message(MessageType.BIRTH, HUI, GERZE, s), message(MessageType.BIRTH, GERZE, HUI, s)]}))]
    if label == "POST /v1/messages/{message_id}/feedback":
        return [st.sampled_from(["received", "confirmed"]).flatmap(lambda status: operation.as_strategy(
            path_parameters={"message_id": node.record_id}, body={"data": feedback(status)}))]
    if label == "POST /v1/messages/{message_id}/withdrawal":
        return [st.sampled_from(["sent_in_error", "duplicate"]).flatmap(lambda reason: operation.as_strategy(
            path_parameters={"message_id": node.withdrawable_id}, body={"data": {"reason": reason}}))]
    if label == "POST /v1/messages/{message_id}/clarification-request":
        return [st.sampled_from(["missing_field", "unreadable"]).flatmap(lambda reason: operation.as_strategy(
            path_parameters={"message_id": node.clarifiable_id},
            body={"data": {"reason": reason, "question": "请补充"}}))]
    if label == "POST /v1/messages/{message_id}/clarification":
        return [operation.as_strategy(path_parameters={"message_id": node.request_id},
                                      body={"data": {"answer": "已核实"}})]
    if label == "POST /v1/messages/{message_id}/verification-steps":
        return [st.sampled_from([{"step": "matched", "found": False}, {"step": "verified", "method": "phone"},
                                 {"step": "answered", "result": "not_found", "findings": "查无此人"}]).flatmap(
            lambda step: operation.as_strategy(path_parameters={"message_id": node.verification_id},
                                               body={"data": step}))]
    if "{message_id}" in operation.path:
        return [operation.as_strategy(path_parameters={"message_id": node.record_id})]
    return []


def test_every_operation_of_the_document_is_fuzzed(fuzzed_node: FuzzedNode) -> None:
    documented = {op.ok().label for op in fuzzed_node.schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_request_gets_a_documented_answer_and_never_a_server_error(
    fuzzed_node: FuzzedNode, operation: str
) -> None:
    api_operation = fuzzed_node.schema.find_operation_by_label(operation)
    assert api_operation is not None, f"{operation} is not in the document"
    headers = {"Authorization": f"Bearer {fuzzed_node.token(operation)}"}
    answered: set[int] = set()

    def request(case: schemathesis.Case) -> None:
        # Generated cases may drop or mangle the Authorization header: 401 is then the documented answer.
        answered.add(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    # Schemathesis' own phases: the document's examples, then coverage (each parameter's boundaries, missing and
    # wrongly typed fields, unexpected methods), then fuzzing, positive and negative. Its pytest plugin, which runs
    # them as `schema.parametrize()`, does not work with pytest 9.2, so the operation's test is built the way the
    # plugin builds it.
    build_operation_test(
        config=fuzzed_node.schema.config, operation=api_operation, test_func=request, given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(fuzzed_node.schema)),
        explicit_settings=BOUNDED,
    )()

    real = real_requests(api_operation, fuzzed_node)
    if real:
        @given(case=st.one_of(real))
        @BOUNDED
        def as_a_local_system_does(case: schemathesis.Case) -> None:
            request(case)

        as_a_local_system_does()
        # …and real ones were accepted or answered, so the document's success answers were checked as well.
        assert any(200 <= status < 300 for status in answered), f"{operation}: only {sorted(answered)}"

    # The requests got past authentication to the operation itself, not only to 401s.
    assert answered - {401}, f"{operation}: only {sorted(answered)}"


#: Requests the fuzzing once answered with a 500 (or, for the agreement shapes, that reached code unguarded),
#: replayed on every run: each is now refused with a documented 4xx problem.
ONCE_SERVER_ERRORS = [
    ("GET /v1/quarantine", {"query": {"after": 2**63}}),  # past PostgreSQL's bigint
    ("POST /v1/quarantine/{seq}/replay", {"path_parameters": {"seq": 2**63}}),
    ("GET /v1/reconciliation", {"query": {"peer": "\x00"}}),  # PostgreSQL refuses NUL in text
    ("GET /v1/inbox", {"query": {"type": "\x00"}}),
    ("GET /v1/messages/{message_id}", {"path_parameters": {"message_id": "\x00"}}),
    ("POST /v1/reconciliation/run", {"query": {"day": "0001-01-01"}}),  # the day before it is no date
    ("GET /v1/calendar/{region}", {"path_parameters": {"region": HUI}, "query": {"date": "9999-12-31"}}),
    ("GET /v1/calendar/{region}/overrides", {"path_parameters": {"region": "sub"}}),
    ("POST /v1/calendar/overrides",
     {"body": {"region": "540000", "date": "2027-02-07", "kind": "holiday", "name": "藏历新年\x00"}}),
    ("POST /v1/calendar/overrides",  # 73,000 days, each a row
     {"body": {"region": "540000", "date": "1900-01-01", "until": "2099-12-31", "kind": "holiday"}}),
    ("POST /v1/agreements",
     {"body": {"id": "zj\x00gs", "version": 1, "parties": ["330000", "620000"], "effective_from": "2026-01-01"}}),
    ("POST /v1/agreements", {"body": [{"id": "zj-gs", "version": 1}]}),
    ("POST /v1/agreements", {"body": {"id": "zj-gs", "version": 1, "parties": ["330000", "620000"],
                                      "effective_from": "2026-01-01", "feedback_deadlines": ["birth", 10]}}),
]


@pytest.mark.parametrize(("operation", "request_parts"), ONCE_SERVER_ERRORS,
                         ids=[f"{op} {sorted(parts)}" for op, parts in ONCE_SERVER_ERRORS])
def test_requests_that_once_failed_the_node_are_refused_as_documented(
    fuzzed_node: FuzzedNode, operation: str, request_parts: dict
) -> None:
    api_operation = fuzzed_node.schema.find_operation_by_label(operation)
    case = api_operation.Case(**request_parts, media_type="application/json" if "body" in request_parts else None)
    response = case.call_and_validate(headers={"Authorization": f"Bearer {fuzzed_node.token(operation)}"},
                                      checks=CHECKS)
    assert 400 <= response.status_code < 500 and response.status_code != 401, response.text
    assert response.json()["type"].startswith("urn:mpx:problem:")  # the problem body itself was checked above
