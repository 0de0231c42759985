"""The client library as a county's developer installs it: the mpx-contracts and mpx-client wheels, built from their
own folders, in a fresh virtual environment with nothing but their declared dependencies, make a round trip with a
running node (its own process, PostgreSQL, the session's Apache Kafka). Then, in this process against the same
node: a send whose answer is lost to a timeout is repeated with the same id and stored once; the paged listings are
walked by iterators; refusals are exceptions with the code, both languages and the field errors; sync and async."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters import AsyncClient, Client, ProblemError, message, payload
from contracts import MessageType, OutflowRegistration
from contracts.examples import example_payload
from tests.integration.conftest import eventually
from tests.integration.test_openapi_cli import REPO, Node, running_node  # noqa: F401 - the node, a fixture
from tests.integration.test_round_trip import GERZE, HUI

pytestmark = pytest.mark.integration

#: What the two distributions may bring into an environment: themselves and their declared dependencies' closure.
ALLOWED = {"mpx-client", "mpx-contracts", "httpx", "httpcore", "h11", "anyio", "idna", "certifi", "sniffio",
           "pydantic", "pydantic-core", "annotated-types", "typing-extensions", "typing-inspection", "orjson",
           "python-stdnum", "standardwebhooks", "pip", "setuptools"}

ROUND_TRIP = """
import json, sys, time
from adapters import Client, ProblemError, message, payload
from contracts import MessageType, OutflowRegistration
from contracts.examples import example_payload

url, key, hui, gerze = sys.argv[1:]
data = OutflowRegistration.model_validate(example_payload(MessageType.OUTFLOW_REGISTRATION, seed=7,
                                          registration_region=hui, residence_region=gerze))
with Client(url, api_key=key) as node:
    sent = node.send(message(MessageType.OUTFLOW_REGISTRATION, hui, gerze, data))
    for _ in range(300):
        arrived = [i for i in node.iter_inbox(county=gerze, limit=2) if i["id"] == sent]
        if arrived:
            break
        time.sleep(0.1)
    typed = payload(arrived[0])
    node.answer(sent, {"status": "received", "handled_on": arrived[0]["received_at"][:10]}, sender=hui)
    try:
        node.message("no-such-message")
    except ProblemError as refused:
        problem = [refused.status, refused.code, refused.title_zh]
try:
    import exchange  # noqa: F401
    node_code = "importable"
except ImportError:
    node_code = "absent"
print(json.dumps({"sent": sent, "typed": type(typed).__name__, "same": typed == data, "problem": problem,
                  "exchange": node_code}, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the two wheels and, from the package index, only their dependencies."""
    where = tmp_path_factory.mktemp("client-library")
    for folder in ("contracts", "adapters"):
        shutil.copytree(REPO / folder, where / "src" / folder, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where / "wheels"),
         str(where / "src" / "contracts"), str(where / "src" / "adapters")])
    run([sys.executable, "-m", "venv", str(where / "venv")])
    python = where / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"),
         *map(str, sorted((where / "wheels").glob("*.whl")))])
    return python


def run(command: list[str]) -> str:
    """Run `command` outside the repository (so that nothing of it is importable from the working directory)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                            cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_the_installed_client_holds_nothing_but_its_dependencies_and_makes_a_round_trip(
        client_venv: Path, running_node: Node) -> None:  # noqa: F811
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(
        run([str(client_venv), "-m", "pip", "list", "--format", "json"]))}
    assert {"mpx-client", "mpx-contracts", "httpx", "pydantic", "standardwebhooks"} <= installed <= ALLOWED, installed
    answer = json.loads(run([str(client_venv), "-c", ROUND_TRIP, running_node.url, running_node.county_key, HUI,
                             GERZE]))
    assert answer["typed"] == "OutflowRegistration" and answer["same"] is True
    assert answer["problem"] == [404, "message_not_found", "报文不存在"]
    assert answer["exchange"] == "absent"  # the node's own code is not there
    with Client(running_node.url, api_key=running_node.county_key) as node:  # the feedback came back to 621227
        eventually_sync(lambda: [i for i in node.iter_inbox(county=HUI, type="feedback")
                                 if i["in_reply_to"] == answer["sent"]])


class _AnswerLostOnce(httpx.HTTPTransport):
    """Delivers the first request to the node, then loses its answer to a read timeout, as a slow network does."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        response = super().handle_request(request)
        if len(self.bodies) == 1:
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


class _AsyncAnswerLostOnce(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(await request.aread())
        response = await super().handle_async_request(request)
        if len(self.bodies) == 1:
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def record(seed: int) -> dict:
    return message(MessageType.OUTFLOW_REGISTRATION, HUI, GERZE, example_payload(
        MessageType.OUTFLOW_REGISTRATION, seed=seed, registration_region=HUI, residence_region=GERZE))


@pytest.fixture
def node(running_node: Node) -> Iterator[Client]:  # noqa: F811
    with Client(running_node.url, api_key=running_node.county_key) as client:
        yield client


def test_a_record_whose_answer_was_lost_is_sent_again_with_its_id_and_stored_once(running_node: Node,  # noqa: F811
                                                                                  node: Client) -> None:
    lost = _AnswerLostOnce()
    unnamed = {k: v for k, v in record(101).items() if k != "id"}  # the client names it
    with Client(running_node.url, api_key=running_node.county_key, transport=lost, backoff=0) as slow:
        sent = slow.send(unnamed)
    assert [json.loads(body)["id"] for body in lost.bodies] == [sent, sent]
    arrived = eventually_sync(lambda: [i for i in node.iter_inbox(county=GERZE) if i["id"] == sent])
    assert len(arrived) == 1 and payload(arrived[0]) == OutflowRegistration.model_validate(unnamed["data"])


async def test_a_batch_whose_answer_was_lost_is_sent_again_with_the_same_ids(running_node: Node) -> None:  # noqa: F811
    lost = _AsyncAnswerLostOnce()
    batch = [{k: v for k, v in record(seed).items() if k != "id"} for seed in (102, 103)]
    async with AsyncClient(running_node.url, api_key=running_node.county_key, transport=lost, backoff=0) as slow:
        ids = await slow.send_batch(batch)
        assert [[m["id"] for m in json.loads(body)["messages"]] for body in lost.bodies] == [ids, ids]
        received = await eventually(lambda: _count(slow, ids), what="the batch at 542526")
    assert received == {ids[0]: 1, ids[1]: 1}


async def _count(client: AsyncClient, ids: list[str]) -> dict[str, int] | None:
    counts = {i: 0 for i in ids}
    async for item in client.iter_inbox(county=GERZE):
        if item["id"] in counts:
            counts[item["id"]] += 1
    return counts if all(counts.values()) else None


def eventually_sync(probe, timeout: float = 30.0):  # noqa: ANN001, ANN201 - a probe returning something truthy
    import time

    end = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)
    return found


def test_the_inbox_and_the_worklist_are_walked_page_by_page_from_a_cursor(node: Client) -> None:
    ids = [node.send(record(seed)) for seed in range(110, 115)]
    eventually_sync(lambda: set(ids) <= {i["id"] for i in node.iter_inbox(county=GERZE)})
    pages = list(node.inbox_pages(county=GERZE, limit=2))
    assert all(len(p["items"]) <= 2 for p in pages) and all(p["has_more"] for p in pages[:-1])
    walked = [i["id"] for p in pages for i in p["items"]]
    assert len(walked) == len(set(walked)) and set(ids) <= set(walked)
    assert walked == [i["id"] for i in node.iter_inbox(county=GERZE, limit=3)]
    # The last cursor is where to come back: nothing yet after it, and the same cursor again.
    after = list(node.inbox_pages(county=GERZE, cursor=pages[-1]["next_cursor"]))
    assert after == [{"items": [], "next_cursor": pages[-1]["next_cursor"], "has_more": False}]
    more = node.send(record(115))
    eventually_sync(lambda: [i["id"] for i in node.iter_inbox(county=GERZE, cursor=pages[-1]["next_cursor"])])
    assert [i["id"] for i in node.iter_inbox(county=GERZE, cursor=pages[-1]["next_cursor"])] == [more]
    todo = [w["message_id"] for w in node.iter_worklist(county=GERZE, kind="feedback", limit=2)]
    assert len(todo) == len(set(todo)) and set(ids) <= set(todo)


async def test_the_async_iterators_walk_the_same_items(running_node: Node, node: Client) -> None:  # noqa: F811
    async with AsyncClient(running_node.url, api_key=running_node.county_key) as client:
        walked = [i["id"] async for i in client.iter_inbox(county=GERZE, limit=2)]
        todo = [w["message_id"] async for w in client.iter_worklist(county=GERZE, limit=2)]
    assert walked == [i["id"] for i in node.iter_inbox(county=GERZE)]
    assert todo == [w["message_id"] for w in node.iter_worklist(county=GERZE)]


def test_a_refusal_is_an_exception_with_its_code_both_languages_and_the_field_at_fault(node: Client) -> None:
    bad = record(120)
    bad["data"]["person"]["id_number"] = bad["data"]["person"]["id_number"][:-1] + (
        "0" if bad["data"]["person"]["id_number"][-1] != "0" else "1")
    with pytest.raises(ProblemError) as refused:
        node.send(bad)
    problem = refused.value
    assert (problem.status, problem.code) == (422, "validation_failed")
    assert problem.title_zh == "报文未通过校验" and problem.title == "The message failed validation"
    [error] = problem.errors
    assert error["field"].endswith("person/id_number") and error["code"] == "invalid_id_checksum"
    assert error["message_zh"] == "公民身份号码校验码错误"


async def test_the_async_client_raises_the_same_refusals(running_node: Node) -> None:  # noqa: F811
    async with AsyncClient(running_node.url, api_key=running_node.county_key) as client:
        with pytest.raises(ProblemError) as refused:
            await client.answer("no-such-record", {"status": "received", "handled_on": "2026-01-05"})
    assert (refused.value.status, refused.value.code) == (404, "message_not_found")
    assert refused.value.detail_zh and refused.value.detail
