"""Traffic simulator: stands in for the local case systems of a federation's counties.

Registration counties report people leaving and coming home; residence counties
report pregnancy checks and births; every county answers what it receives, asks
for clarification of some records first (and answers the requests it gets),
withdraws a few records sent in error, asks for verification (协查) now and then and
works the requests it gets through their steps. The roster check (定期清查) is the
nodes' own (`make run` starts it soon after start). Used by `mpx run --simulate` to show the
exchange working, never by the tests' assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import deque
from dataclasses import dataclass, field

import httpx

from adapters.client import AsyncClient, ProblemError
from contracts import MessageType, today_in_china
from contracts.examples import example_payload

# Who sends what to whom, as in DOMAIN.md.
FROM_REGISTRATION = [MessageType.OUTFLOW_REGISTRATION, MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION]
FROM_RESIDENCE = [MessageType.PREGNANCY_CHECK, MessageType.PREGNANCY_CHECK, MessageType.BIRTH]
ANSWERS = ["confirmed"] * 6 + ["received"] * 2 + ["not_found", "moved_on"]
#: Shares of records withdrawn soon after sending (误发) and asked to clarify before answering.
WITHDRAW_SHARE = 0.05
CLARIFY_SHARE = 0.1
#: Share of sends that are verification requests (协查), and the step after each step of one.
VERIFY_SHARE = 0.08
NEXT_STEP = {"received": "matched", "matched": "verified", "verified": "answered"}


@dataclass
class Stats:
    sent: int = 0
    answered: int = 0
    refused: int = 0
    errors: int = 0
    withdrawn: int = 0
    clarifications_asked: int = 0
    clarified: int = 0
    verification_steps: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def feedback_for(status: str) -> dict:
    data: dict = {"status": status, "handled_on": today_in_china().isoformat(), "handled_by": "流动人口服务站"}
    if status == "not_found":
        data["reason"] = "经核查，本县无此人 / no such person found here"
    elif status == "moved_on":
        data["reason"] = "已迁往他处 / moved on"
        data["new_region"] = "330204"
    return data


async def simulate(
    nodes: dict[str, str],
    keys: dict[str, str],
    registration: list[str],
    residence: list[str],
    *,
    rate: float = 5.0,
    stats: Stats | None = None,
) -> Stats:
    """Post about `rate` messages a second between the counties, and answer what arrives, until cancelled."""
    stats = stats or Stats()
    clients = {county: AsyncClient(url, api_key=keys[county]) for county, url in nodes.items()}
    rng = random.Random(2026)
    seeds = itertools.count(1)
    recent: deque[tuple[str, str]] = deque(maxlen=20)  # (sender, id) of records sent lately: withdrawal candidates
    asked: set[tuple[str, str]] = set()  # (receiver, record id) asked to clarify: answered next round

    async def call(action, counter: str, overtaken: str | None = None) -> None:  # noqa: ANN001 - a client awaitable
        """Count a request's outcome. A refusal is a simulator bug (it follows the nodes' rules), except the one
        problem `overtaken` names: the other county acted first (answered a record being withdrawn, or withdrew a
        record being answered or asked about), which offices meet too."""
        try:
            await action
            setattr(stats, counter, getattr(stats, counter) + 1)
        except ProblemError as problem:
            if problem.code != overtaken:
                stats.refused += 1
        except httpx.HTTPError:  # a node slow past the client's attempts: the request may or may not have been accepted
            stats.errors += 1

    async def send_one() -> None:
        if rng.random() < VERIFY_SHARE:
            sender, receiver, kind = rng.choice(registration), rng.choice(residence), MessageType.VERIFICATION_REQUEST
        elif rng.random() < 0.5:
            sender, receiver, kind = rng.choice(registration), rng.choice(residence), rng.choice(FROM_REGISTRATION)
        else:
            sender, receiver, kind = rng.choice(residence), rng.choice(registration), rng.choice(FROM_RESIDENCE)
        message = {"id": str(uuid.uuid4()), "type": kind.value, "sender": sender, "receiver": receiver,
                   "data": example_payload(kind, seed=next(seeds))}
        before = stats.sent
        await call(clients[sender].send(message), "sent")
        if stats.sent > before:
            stats.by_type[kind.value] = stats.by_type.get(kind.value, 0) + 1
            recent.append((sender, message["id"]))
        if recent and rng.random() < WITHDRAW_SHARE:
            county, record = recent.popleft()  # the oldest: if answered meanwhile, the answer stands
            await call(clients[county].withdraw(record, example_payload(MessageType.WITHDRAWAL, seed=next(seeds))),
                       "withdrawn", overtaken="already_answered")

    async def answer_all() -> None:
        for county, client in clients.items():
            for item in (await client.inbox(answered=False, limit=100))["items"]:
                if item["type"] == MessageType.VERIFICATION_REQUEST:
                    await call(next_step(client, item), "verification_steps", overtaken="request_withdrawn")
                elif item["type"] == MessageType.CLARIFICATION_REQUEST:
                    await call(client.clarify(item["id"], example_payload(MessageType.CLARIFICATION),
                                              sender=item["sender"]), "clarified")
                elif (county, item["id"]) not in asked and rng.random() < CLARIFY_SHARE:
                    asked.add((county, item["id"]))
                    await call(client.ask_clarification(item["id"], example_payload(
                        MessageType.CLARIFICATION_REQUEST, seed=next(seeds)), sender=item["sender"]),
                        "clarifications_asked", overtaken="not_clarifiable")
                else:
                    await call(client.answer(item["id"], feedback_for(rng.choice(ANSWERS)), sender=item["sender"]),
                               "answered", overtaken="record_withdrawn")

    async def next_step(client: AsyncClient, item: dict) -> str:
        """The step after the request's current one: matched (found), verified (by phone), answered (confirmed)."""
        step = NEXT_STEP[(await client.message(item["id"], sender=item["sender"]))["verification"]["step"]]
        data = example_payload(MessageType.VERIFICATION_STEP, seed=list(NEXT_STEP.values()).index(step))
        return await client.verification_step(item["id"], data, sender=item["sender"])

    try:
        tick = 0
        while True:
            await send_one()
            tick += 1
            if tick % max(1, int(rate)) == 0:
                try:
                    await answer_all()
                except httpx.HTTPError:
                    stats.errors += 1
            await asyncio.sleep(1.0 / rate)
    finally:
        for client in clients.values():
            await client.aclose()
    return stats
