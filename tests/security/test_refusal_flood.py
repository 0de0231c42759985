"""A flood of junk credentials from one address: refused cheaply, without growing the evidence chain, while the
county's genuine system is still served.

Every refusal used to append an evidence-chain line under the lock each accepted message also needs, and nothing
limited requests before authentication: anyone who can reach the node could slow every county's intake and fill
the chain. Now an address that keeps failing to authenticate is answered 429 before its credential is looked at,
and anonymous refusals are counted in the metrics, not chained. A refusal of an authenticated principal (a key
asking for what it may not) still leaves its line.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from contracts import MessageType
from exchange.adapters.crypto.evidence import entries
from exchange.domain.principals import Role
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import HAISHU, HUI, message

ATTACKER, COUNTY_SYSTEM = "203.0.113.66", "10.62.12.27"
BUDGET = 20  # failed authentications per minute and address
FLOOD = 400


def client_at(node: RunningNode, address: str, token: str | None = None) -> httpx.AsyncClient:
    """An HTTP client of the node seen as coming from `address`."""
    transport = httpx.ASGITransport(app=node.app, client=(address, 40000))
    return httpx.AsyncClient(base_url="http://node.test", transport=transport,
                             headers={"Authorization": f"Bearer {token}"} if token else {})


def junk(n: int) -> dict[str, str]:
    """No credential, a made-up API key, a made-up JWT, a wrong admin token: in turn."""
    token = ["", f"mpx_{n:012x}_{'x' * 43}", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", f"admin-{n}"][n % 4]
    return {"Authorization": f"Bearer {token}"} if token else {}


def anonymous_refusals(metrics: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r'mpx_http_anonymous_refusals_total\{refusal="(\w+)"\} (\S+)',
                                                    metrics)}


async def test_a_junk_token_flood_is_cut_off_and_the_county_is_still_served(federation: Federation):
    hui = await federation.start(HUI, address_refusals_per_minute=BUDGET, admin_token="flood-admin-token-long-enough")
    haishu = await federation.start(HAISHU)
    system_key = (await hui.node.keys.create(name="徽县系统", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}))).key
    operator_key = (await hui.node.keys.create(name="徽县窗口", role=Role.COUNTY_OPERATOR,
                                               counties=frozenset({HUI}))).key
    chain_before = len(await entries(hui.node.engine))

    async with client_at(hui, ATTACKER) as attacker, client_at(hui, COUNTY_SYSTEM, system_key) as system:
        async def flood() -> list[httpx.Response]:
            return [await attacker.post("/v1/messages", json={}, headers=junk(n)) for n in range(FLOOD)]

        async def genuine() -> list[str]:
            ids = []
            for seed in range(10):
                response = await system.post("/v1/messages",
                                             json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed))
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            return ids

        # The address's bucket refills a token every 3 s (20 a minute): its clock is held for the flood, so that what
        # is checked is the budget, not how fast this machine sends 400 requests.
        refusals = hui.app.state.auth.refusals
        held = refusals.clock()
        refusals.clock = lambda: held
        started = time.perf_counter()
        answers, sent = await asyncio.gather(flood(), genuine())
        seconds = time.perf_counter() - started
        refusals.clock = time.monotonic

    statuses = [a.status_code for a in answers]
    first_limited = statuses.index(429)
    assert first_limited <= BUDGET and statuses[:first_limited] == [401] * first_limited
    assert set(statuses[first_limited:]) == {429}  # the flood goes on; none of it is looked at any more
    limited = answers[-1]
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert int(limited.headers["retry-after"]) >= 1 and limited.json()["title_zh"]

    # The chain did not grow per refusal; the accepted messages left their lines as ever.
    chain = await entries(hui.node.engine)
    assert not [e for e in chain[chain_before:] if e["event"] == "refused"]
    counted = anonymous_refusals((await hui.http.get("/metrics")).text)
    assert sum(counted.values()) == FLOOD and counted["address_limited"] == FLOOD - first_limited

    # Every genuine record arrives.
    for message_id in sent:
        await eventually(lambda m=message_id: in_inbox(haishu, m), what=f"genuine record {message_id} at Haishu")

    # A known key asking for what it may not is still refused on the record.
    async with client_at(hui, COUNTY_SYSTEM, operator_key) as operator:
        refused = await operator.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    assert refused.status_code == 403
    assert [e["principal"] for e in await entries(hui.node.engine) if e["event"] == "refused"] \
        == [f"key:{operator_key.split('_')[1]}"]
    print(f"flood: {FLOOD} junk requests and 10 genuine messages in {seconds:.2f} s; "
          f"429 from request {first_limited + 1}; metrics {counted}")
