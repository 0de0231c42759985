"""Webhook push (推送) on real Kafka and PostgreSQL, to a real HTTP receiver on loopback that verifies every signature
with the `standardwebhooks` library and remembers what it got by webhook-id.

徽县 (621227) sends 海曙区 (330203) records; 海曙区's case system subscribed to what it receives. The receiver fails the
first two attempts: the first event is retried on the schedule (the clock moved, no sleeping) and the rest follow in
order; a pause holds an event until the resume; a 410 disables the subscription; the delivery log shows every attempt
and never the payload; 改则县's key, served by the same node, can neither see nor touch 海曙区's subscription. Then a
node in its own process is SIGKILLed with events pending: after the restart every event arrives, a copy recognisable
by its webhook-id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts import MessageType
from exchange.domain.clock import set_clock, wall_clock
from exchange.domain.principals import Role
from exchange.domain.webhooks import JITTER, SCHEDULE
from tests.faults.conftest import AUTH, NodeProcess, batches, free_port
from tests.integration.conftest import Federation, eventually, in_inbox
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOOPBACK = "127.0.0.1"
SETTINGS = {"webhook_hosts": (LOOPBACK,), "webhook_idle_seconds": 0.1, "clock_skew_seconds": 3600,
            "webhook_timeout_seconds": 1}
#: A scripted answer: 204, but only after the node has stopped waiting (its timeout is 1 s).
TOO_LATE = 0


@pytest.fixture
def database_kind() -> str:
    """PostgreSQL only: the dispatcher's claims are the point (several processes on one database)."""
    return "postgresql"


@dataclass
class Receiver:
    """Case systems' webhook endpoints (one path each): each POST is verified with its subscription's secret,
    answered as scripted (`answers` of the path, then 204; `TOO_LATE`: 204 after 2 s) and kept in order, copies
    included, as soon as it is read (a receiver that handled an event whose answer the node never saw)."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_…
    answers: dict[str, list[int]] = field(default_factory=dict)
    delay: float = 0.0
    got: list[dict] = field(default_factory=list)  # every verified POST: path, id, status answered, event

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/hooks/{name}"

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        name = request.path_params["name"]
        event = Webhook(self.secrets[name]).verify(body, dict(request.headers))  # raises: a 500, never "accepted"
        script = self.answers.get(name)
        status = script.pop(0) if script else 204
        self.got.append({"path": name, "id": request.headers["webhook-id"], "status": status, "event": event})
        if status == TOO_LATE:
            status = 204
            await asyncio.sleep(2)
        await asyncio.sleep(self.delay)
        return Response(status_code=status)

    def at(self, name: str) -> list[dict]:
        return [g for g in self.got if g["path"] == name]

    def accepted(self, type_: str | None = None, name: str | None = None) -> list[dict]:
        return [g for g in self.got if 200 <= g["status"] < 300 and type_ in (None, g["event"]["type"])
                and name in (None, g["path"])]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]
    hooks = Receiver(port)
    app = Starlette(routes=[Route("/hooks/{name}", hooks.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=10, what="the receiver listening")
    yield hooks
    server.should_exit = True
    await asyncio.wait_for(task, 10)


class MovingClock:
    """The real clock, moved ahead by hand (the nodes' schedules follow it; webhook-timestamp stays real)."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return wall_clock() + self.ahead


@pytest.fixture
def clock() -> AsyncIterator[MovingClock]:
    moving = MovingClock()
    set_clock(moving)
    yield moving
    set_clock(None)


async def test_events_reach_their_county_signed_in_order_retried_paused_and_stopped(
        federation: Federation, receiver: Receiver, clock: MovingClock):
    hui = await federation.start(HUI, **SETTINGS)
    node = await federation.start(HAISHU, GERZE, **SETTINGS)
    haishu_system = await node.node.keys.create(name="海曙区业务系统", role=Role.COUNTY_SYSTEM,
                                                counties=frozenset({HAISHU}))
    gerze_system = await node.node.keys.create(name="改则县业务系统", role=Role.COUNTY_SYSTEM,
                                               counties=frozenset({GERZE}))
    haishu = {"Authorization": f"Bearer {haishu_system.key}"}
    gerze = {"Authorization": f"Bearer {gerze_system.key}"}

    created = await node.http.post("/v1/admin/webhooks", headers=haishu, json={
        "county": HAISHU, "url": receiver.url("haishu"), "kinds": ["record_received", "state_changed"]})
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["secret"].startswith("whsec_") and created.headers["cache-control"] == "no-store"
    receiver.secrets["haishu"] = sub["secret"]
    listed = (await node.http.get("/v1/admin/webhooks", headers=haishu)).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]

    # The attack: 改则县's case system, on the same node, can neither see nor manage 海曙区's subscription.
    assert (await node.http.get("/v1/admin/webhooks", headers=gerze)).json()["items"] == []
    for method, path in [("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("GET", "/deliveries"),
                         ("POST", "/deliveries/1/retry")]:
        answer = await node.http.request(method, f"/v1/admin/webhooks/{sub['id']}{path}", headers=gerze)
        assert (answer.status_code, answer.json()["type"]) == (404, "urn:mpx:problem:webhook_not_found"), path
    stolen = await node.http.post("/v1/admin/webhooks", headers=gerze, json={
        "county": HAISHU, "url": receiver.url("thief"), "kinds": ["record_received"]})
    assert (stolen.status_code, stolen.json()["type"]) == (403, "urn:mpx:problem:not_your_county")
    elsewhere = await hui.http.post("/v1/admin/webhooks", json={
        "county": HAISHU, "url": receiver.url("thief"), "kinds": ["record_received"]})
    assert (elsewhere.status_code, elsewhere.json()["type"]) == (403, "urn:mpx:problem:county_not_served")
    for url, status, code in [("ftp://127.0.0.1/x", 422, "validation_failed"),
                              ("http://10.1.2.3/hook", 403, "url_not_allowed"),
                              ("http://user:pw@127.0.0.1/x", 403, "url_not_allowed")]:
        refused = await node.http.post("/v1/admin/webhooks", headers=haishu, json={
            "county": HAISHU, "url": url, "kinds": ["record_received"]})
        assert (refused.status_code, refused.json()["type"]) == (status, f"urn:mpx:problem:{code}"), url
    assert len((await node.http.get("/v1/admin/webhooks")).json()["items"]) == 1  # the node's system: both counties

    # Three records; the receiver fails the first two attempts (an error, then an answer too late): the first event
    # waits for its retries, the rest wait behind it.
    receiver.answers["haishu"] = [500, TOO_LATE]
    sent = [await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed)) for seed in (1, 2, 3)]
    for record in sent:
        await eventually(lambda r=record: in_inbox(node, r), what=f"{record} at 330203")
    await eventually(lambda: len(receiver.got) == 1, timeout=10, what="the first attempt")
    await asyncio.sleep(0.5)
    assert len(receiver.got) == 1  # the schedule's 5 s have not passed on the node's clock
    clock.ahead += timedelta(seconds=6)
    await eventually(lambda: len(receiver.got) == 2, timeout=10, what="the second attempt")

    async def attempts_logged() -> bool:  # the node stops waiting for the late answer after its timeout, 1 s
        log = (await node.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries", headers=haishu)).json()["items"]
        return any(d["attempts"] == 2 for d in log)

    await eventually(attempts_logged, timeout=10, what="the second attempt given up")
    await asyncio.sleep(0.5)
    assert len(receiver.got) == 2  # the next retry is 5 min later
    clock.ahead += timedelta(minutes=6)
    await eventually(lambda: len(receiver.accepted("record.received")) == 3, timeout=20, what="the three records")
    await eventually(lambda: len(receiver.accepted("obligation.opened")) == 3, timeout=20, what="the obligations")
    first, second, third = receiver.got[:3]
    assert first["id"] == second["id"] == third["id"]
    assert [g["status"] for g in (first, second, third)] == [500, TOO_LATE, 204]
    records = receiver.accepted("record.received")
    assert [r["event"]["data"]["message_id"] for r in records] == sent  # in order
    inbox = {item["id"]: item for item in await node.client.inbox_all()}
    for r in records:
        data = r["event"]["data"]
        assert (data["county"], data["sender"], data["receiver"]) == (HAISHU, HUI, HAISHU)
        assert data["message"]["data"] == inbox[data["message_id"]]["data"]  # what GET /v1/inbox gives
    assert "person" not in json.dumps([g["event"] for g in receiver.accepted("obligation.opened")])
    assert len({g["id"] for g in receiver.accepted()}) == len(receiver.accepted())  # each event once

    # The delivery log: every attempt, never the payload.
    log = (await node.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries", headers=haishu)).json()["items"]
    head = next(d for d in log if d["event_id"] == first["id"])
    assert [(a["status"], a["outcome"]) for a in head["log"]] == [(500, "retry"), (None, "retry"), (204, "delivered")]
    assert head["state"] == "delivered" and head["log"][0]["error"] == "HTTP 500"
    assert head["log"][1]["error"] == "no answer within 1 s (timeout)"
    person = records[0]["event"]["data"]["message"]["data"]["person"]
    assert person["name"] not in json.dumps(log) and person["id_number"] not in json.dumps(log)

    # Paused: the next event is stored and held; resumed: it goes out.
    paused = await node.http.post(f"/v1/admin/webhooks/{sub['id']}/pause", headers=haishu)
    assert paused.json()["state"] == "paused"
    fourth = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 4))
    await eventually(lambda: in_inbox(node, fourth), what="the fourth record at 330203")
    await asyncio.sleep(0.5)
    assert fourth not in [r["event"]["data"]["message_id"] for r in receiver.accepted("record.received")]
    held = await node.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries", params={"state": "pending"},
                               headers=haishu)
    assert {d["message_id"] for d in held.json()["items"]} == {fourth}
    assert (await node.http.post(f"/v1/admin/webhooks/{sub['id']}/resume", headers=haishu)).json()["state"] == "active"
    await eventually(lambda: len(receiver.accepted("record.received")) == 4, timeout=10, what="the held record")
    await eventually(lambda: len(receiver.accepted("obligation.opened")) == 4, timeout=10, what="its obligation")

    # 410 Gone: the receiver wants no more; the subscription is disabled, the reason shown, nothing more stored.
    receiver.answers["haishu"] = [410]
    fifth = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 5))
    await eventually(lambda: any(g["status"] == 410 for g in receiver.got), timeout=20, what="the 410")
    assert [g["event"]["data"]["message_id"] for g in receiver.got if g["status"] == 410] == [fifth]

    async def disabled() -> dict | None:
        view = (await node.http.get(f"/v1/admin/webhooks/{sub['id']}", headers=haishu)).json()
        return view if view["state"] == "disabled" else None

    view = await eventually(disabled, timeout=10, what="the subscription disabled")
    assert "410" in view["disabled_reason"]
    count = len(receiver.got)
    sixth = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 6))
    await eventually(lambda: in_inbox(node, sixth), what="the sixth record at 330203")
    await asyncio.sleep(0.5)
    assert len(receiver.got) == count
    stored = (await node.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries", headers=haishu)).json()["items"]
    assert sixth not in {d["message_id"] for d in stored} and fifth in {d["message_id"] for d in stored}


async def test_a_delivery_failing_every_retry_is_failed_on_the_to_do_list_counted_and_sent_again(
        federation: Federation, receiver: Receiver, clock: MovingClock):
    hui = await federation.start(HUI, **SETTINGS)
    node = await federation.start(HAISHU, **SETTINGS)
    created = await hui.http.post("/v1/admin/webhooks", json={
        "county": HUI, "url": receiver.url("hui"), "kinds": ["feedback_received", "state_changed"]})
    sub = created.json()
    receiver.secrets["hui"] = sub["secret"]
    receiver.answers["hui"] = [503] * 8
    began = clock()
    record = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 7))

    # Its receipt: message.delivered, failing at every attempt of the schedule (the clock moved past each delay).
    async def recorded(n: int) -> bool:  # the node wrote down the n-th attempt (before the clock moves on)
        answer = await hui.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries")
        return [d["attempts"] for d in answer.json()["items"]] == [n]

    await eventually(lambda: recorded(1), timeout=20, what="the first attempt")
    for n, delay in enumerate(SCHEDULE, start=2):
        clock.ahead += delay * (1 + JITTER) + timedelta(seconds=1)
        await eventually(lambda n=n: recorded(n), timeout=10, what=f"attempt {n}")
    assert len(receiver.at("hui")) == 8
    assert {g["event"]["type"] for g in receiver.at("hui")} == {"message.delivered"}
    assert len({g["id"] for g in receiver.at("hui")}) == 1

    async def failed() -> list[dict]:
        answer = await hui.http.get(f"/v1/admin/webhooks/{sub['id']}/deliveries", params={"state": "failed"})
        return answer.json()["items"]

    [gone] = await eventually(failed, timeout=10, what="the delivery failed")
    assert (gone["attempts"], gone["message_id"], len(gone["log"])) == (8, record, 8)
    assert {a["outcome"] for a in gone["log"][:-1]} == {"retry"} and gone["log"][-1]["outcome"] == "failed"
    [todo] = (await hui.http.get("/v1/worklist", params={"kind": "webhook_failed"})).json()["items"]
    assert (todo["message_id"], todo["record_id"], todo["status"], todo["next"]["href"]) == (
        gone["event_id"], record, "overdue", f"/v1/admin/webhooks/{sub['id']}/deliveries/{gone['seq']}/retry")
    metrics = (await hui.http.get("/metrics")).text
    assert f'mpx_webhook_deliveries_total{{county="{HUI}",outcome="failed"}} 1.0' in metrics
    assert (await hui.http.get(f"/v1/admin/webhooks/{sub['id']}")).json()["state"] == "active"  # not 5 days yet

    # The receiver mended (and the clock back, so that messages travel again): every failed delivery since the
    # record was sent goes again, with its webhook-id.
    clock.ahead = timedelta()
    again = await hui.http.post(f"/v1/admin/webhooks/{sub['id']}/retry", json={"since": began.isoformat()})
    assert again.json() == {"retried": 1}
    await eventually(lambda: receiver.accepted("message.delivered", "hui"), timeout=10, what="the retried delivery")
    assert receiver.accepted("message.delivered", "hui")[0]["id"] == gone["event_id"]
    assert (await hui.http.get("/v1/worklist", params={"kind": "webhook_failed"})).json()["items"] == []
    twice = await hui.http.post(f"/v1/admin/webhooks/{sub['id']}/deliveries/{gone['seq']}/retry")
    assert (twice.status_code, twice.json()["type"]) == (404, "urn:mpx:problem:delivery_not_found")

    # Feedback comes back: feedback.received (its data), then the record answered.
    feedback_id = await node.client.answer(record, feedback("confirmed"))
    await eventually(lambda: receiver.accepted("message.answered", "hui"), timeout=20, what="the record answered")
    types = [g["event"]["type"] for g in receiver.accepted(name="hui")]
    assert types[-2:] == ["feedback.received", "message.answered"]
    received = receiver.accepted("feedback.received", "hui")[0]["event"]["data"]
    assert (received["message_id"], received["message"]["in_reply_to"]) == (feedback_id, record)


@pytest.fixture
async def node_process(tmp_path: Path, make_postgres_database, kafka_bootstrap: str) -> AsyncIterator[NodeProcess]:
    """One node serving both counties, in its own process (python -m exchange.entrypoints.cli node)."""
    env = {**os.environ, "MPX_NODE_ID": "webhooks-kill", "MPX_COUNTIES": f"{HUI},{HAISHU}",
           "MPX_PORT": str(free_port()), "DATABASE_URL": make_postgres_database(),
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "MPX_TOPIC_PREFIX": f"t{os.urandom(5).hex()}",
           "MPX_RELAY_IDLE_SECONDS": "0.2", "MPX_RECONCILE_AT": "", "MPX_BOOTSTRAP_KEY": AUTH["Authorization"][7:],
           "MPX_WEBHOOK_HOSTS": LOOPBACK, "MPX_WEBHOOK_IDLE_SECONDS": "0.1", "MPX_LOG_LEVEL": "INFO"}
    process = NodeProcess("webhooks-kill", env, tmp_path / "node.log", int(env["MPX_PORT"]))
    yield process.start()
    process.kill()


async def test_a_node_killed_with_events_pending_delivers_every_one_after_a_restart(
        node_process: NodeProcess, receiver: Receiver):
    await node_process.wait_ready()
    async with httpx.AsyncClient(base_url=node_process.url, headers=AUTH, timeout=30) as http:
        created = await http.post("/v1/admin/webhooks", json={"county": HAISHU, "url": receiver.url("kill"),
                                                              "kinds": ["record_received"]})
        assert created.status_code == 201, created.text
        receiver.secrets["kill"] = created.json()["secret"]
        receiver.delay = 0.1  # a slow receiver: events queue up behind one another
        [load] = batches("webhook-kill", 1, 20)
        assert (await http.post("/v1/messages/batch", json={"messages": load})).status_code == 202
    sent = [m["id"] for m in load]

    def delivered() -> list[str]:
        return list(dict.fromkeys(g["event"]["data"]["message_id"] for g in receiver.accepted()))

    await eventually(lambda: len(delivered()) >= 3, timeout=60, what="a few events delivered")
    node_process.kill()
    at_kill = len(delivered())
    assert at_kill < len(sent)  # events were pending when it died

    node_process.start()
    await node_process.wait_ready()
    await eventually(lambda: len(delivered()) == len(sent), timeout=60, what="every event after the restart")
    assert delivered() == sent  # each record once, in order
    by_id: dict[str, set[str]] = {}
    for g in receiver.accepted():
        by_id.setdefault(g["id"], set()).add(g["event"]["data"]["message_id"])
    assert len(by_id) == len(sent) and all(len(ids) == 1 for ids in by_id.values())  # a copy: the same webhook-id
    copies = len(receiver.accepted()) - len(by_id)
    print(f"\n[webhooks kill] {at_kill} of {len(sent)} delivered when killed; all after the restart, {copies} "
          "copies recognised by their webhook-id")
    with contextlib.suppress(Exception):
        node_process.terminate()
