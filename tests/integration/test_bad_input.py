"""Bad input gets RFC 9457 problem JSON in Chinese and English, and changes nothing: no row, no record."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from contracts import MessageType
from contracts.examples import example_id_number
from tests.integration.conftest import Federation, RunningNode
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message


@pytest.fixture
async def pair(federation: Federation) -> tuple[RunningNode, RunningNode]:
    return await federation.start(HUI), await federation.start(HAISHU)


async def refused(federation: Federation, node: RunningNode, method: str, url: str, *, status: int, code: str,
                  **request) -> dict:
    """Send a bad request; check the problem body and that neither the database nor Kafka changed."""
    rows_before, topics_before = await node.counts(), await federation.topic_end_offsets()
    response = await node.http.request(method, url, **request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == f"urn:mpx:problem:{code}"
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["title_zh"] + problem["detail_zh"])  # Chinese text
    await asyncio.sleep(0.5)  # give a wrongly woken relay time to publish
    assert await node.counts() == rows_before
    assert await federation.topic_end_offsets() == topics_before
    return problem


def outflow(**changes) -> dict:
    body = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU)
    body.update(changes)
    return body


def with_person(**changes) -> dict:
    body = outflow()
    body["data"]["person"].update(changes)
    return body


async def test_malformed_json(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=400, code="malformed_json",
                  content=b'{"type": "outflow_registration",', headers={"content-type": "application/json"})


async def test_unknown_message_type(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="unknown_message_type",
                  json=outflow(type="emigration"))


async def test_delivery_receipts_cannot_be_posted_by_a_local_system(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="unknown_message_type",
                  json=outflow(type="delivery_receipt"))


async def test_unknown_schema_version(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="unknown_schema_version",
                  json=outflow(schema_version="9.9"))


async def test_bad_id_check_character(federation, pair):
    good = outflow()["data"]["person"]["id_number"]
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    problem = await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="validation_failed",
                            json=with_person(id_number=bad))
    assert {e["code"] for e in problem["errors"]} == {"invalid_id_checksum"}
    assert problem["errors"][0]["field"] == "data/person/id_number"
    assert bad not in str(problem)  # never echo an ID number


async def test_id_birth_date_inconsistent_with_the_record(federation, pair):
    body = outflow()
    person = body["data"]["person"]
    person["birth_date"] = "1990-01-02" if person["birth_date"] != "1990-01-02" else "1990-01-03"
    problem = await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="validation_failed",
                            json=body)
    assert "id_birth_date_mismatch" in {e["code"] for e in problem["errors"]}
    assert person["id_number"] not in str(problem) and person["name"] not in str(problem)


async def test_unknown_region_code(federation, pair):
    problem = await refused(federation, pair[0], "POST", "/v1/messages", status=422, code="validation_failed",
                            json=outflow(receiver="999999"))
    assert {e["code"] for e in problem["errors"]} == {"unknown_region_code"}


async def test_an_old_region_code_inside_an_id_number_is_valid(federation, pair):
    # 622630 was Hui County's code from 1985 until Longnan became a prefecture-level city in 2004.
    old_id = example_id_number("622630", date(1975, 3, 8), 12, "female")
    response = await pair[0].http.post("/v1/messages", json=with_person(id_number=old_id, birth_date="1975-03-08"))
    assert response.status_code == 202, response.text


async def test_a_sender_county_the_node_does_not_serve(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=403, code="sender_not_served",
                  json=message(MessageType.OUTFLOW_REGISTRATION, "542526", HAISHU))


async def test_feedback_to_an_unknown_message(federation, pair):
    await refused(federation, pair[1], "POST", "/v1/messages/no-such-message/feedback", status=404,
                  code="message_not_found", json={"data": feedback("confirmed")})


async def test_feedback_posted_as_a_message_must_answer_something_received(federation, pair):
    body = {"type": "feedback", "sender": HAISHU, "receiver": HUI, "in_reply_to": "never-sent",
            "data": feedback("confirmed")}
    await refused(federation, pair[1], "POST", "/v1/messages", status=404, code="message_not_found", json=body)


async def test_a_body_over_the_size_limit(federation, pair):
    node = pair[0]
    padding = "x" * (node.settings.max_body_bytes + 1)
    await refused(federation, node, "POST", "/v1/messages", status=413, code="payload_too_large",
                  content=b'{"pad": "' + padding.encode() + b'"}', headers={"content-type": "application/json"})


async def test_one_bad_message_refuses_the_whole_batch(federation, pair):
    batch = [outflow(), with_person(birth_date="2999-01-01"), outflow()]
    problem = await refused(federation, pair[0], "POST", "/v1/messages/batch", status=422,
                            code="validation_failed", json={"messages": batch})
    assert all(e["field"].startswith("messages/1/") for e in problem["errors"])


async def test_a_batch_over_the_count_limit(federation, pair):
    node = pair[0]
    batch = [outflow() for _ in range(node.settings.max_batch + 1)]
    await refused(federation, node, "POST", "/v1/messages/batch", status=413, code="batch_too_large",
                  json={"messages": batch})


async def test_the_same_id_reused_for_different_content(federation, pair):
    node = pair[0]
    assert (await node.http.post("/v1/messages", json=outflow(id="case-1"))).status_code == 202
    other = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed=99, id="case-1")
    await refused(federation, node, "POST", "/v1/messages", status=409, code="duplicate_message_id", json=other)


async def test_not_json_at_all(federation, pair):
    await refused(federation, pair[0], "POST", "/v1/messages", status=415, code="unsupported_media_type",
                  content=b"type=birth", headers={"content-type": "application/x-www-form-urlencoded"})


# What Schemathesis' own CLI (`st run … --checks all`) found: each request below was answered against the document.

async def test_a_method_a_path_does_not_have_is_answered_405_with_every_method_it_has(federation, pair):
    hui, _ = pair
    problem = await refused(federation, hui, "DELETE", "/v1/inbox", status=405, code="method_not_allowed")
    assert problem["title_zh"]
    response = await hui.http.request("TRACE", "/v1/messages")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    # GET and POST of the overrides are two routes; a 405 names both ("GET /v1/calendar/overrides" is no county).
    response = await hui.http.request("PUT", "/v1/calendar/overrides")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = await hui.http.request("PUT", "/v1/admin/keys")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("day", ["0", "1700000000", "2026-1-5", "2150-01-01"])
async def test_a_day_is_written_yyyy_mm_dd_in_the_years_the_node_knows(federation, pair, day):
    hui, _ = pair
    problem = await refused(federation, hui, "GET", f"/v1/calendar/{HUI}?date={day}", status=422,
                            code="validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["query/date"]


async def test_a_region_code_that_names_no_county_is_not_found(federation, pair):
    hui, _ = pair
    await refused(federation, hui, "GET", "/v1/calendar/000000", status=404, code="region_not_found")
    assert (await hui.http.get(f"/v1/calendar/{HUI}")).status_code == 200


async def test_an_inbox_cursor_is_the_digits_a_page_gave(federation, pair):
    hui, _ = pair
    await refused(federation, hui, "GET", "/v1/inbox?cursor=MTIz", status=422, code="validation_failed")
    page = (await hui.http.get("/v1/inbox?limit=1")).json()
    assert page["next_cursor"] is None or page["next_cursor"].isdigit()
    await refused(federation, hui, "GET", "/v1/inbox?type=no_such_type", status=422, code="validation_failed")
