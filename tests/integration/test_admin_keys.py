"""An admin gives each local system its API key over HTTP, lists the keys and takes them back.

The same rules and the same evidence as `mpx keys create|list|revoke` at the node's console (run here as the real
command, against the node's own database).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from contracts import MessageType
from exchange.adapters.crypto.evidence import entries, verify
from exchange.domain.clock import utcnow
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message

ADMIN = "keys-admin-token"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
ROOT = Path(__file__).parents[2]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_an_admin_gives_a_county_system_its_key_and_takes_it_back(federation: Federation):
    node = await federation.start(HUI, GERZE, admin_token=ADMIN)
    made = await node.http.post("/v1/admin/keys", headers=AS_ADMIN, json={
        "role": "county_system", "counties": [HUI], "name": "徽县卫健局流动人口信息系统", "days": 30})
    assert made.status_code == 201, made.text
    issued = made.json()
    key, key_id = issued["key"], issued["key_id"]
    assert key.startswith(f"mpx_{key_id}_") and made.headers["cache-control"] == "no-store"
    assert (issued["role"], issued["counties"], issued["provinces"], issued["revoked_at"]) == (
        "county_system", [HUI], [], None)
    expires = utcnow() + timedelta(days=30)
    assert abs((_time(issued["expires_at"]) - expires).total_seconds()) < 60

    # The local system sends as Hui with it, and only as Hui.
    sent = await node.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU),
                                headers=bearer(key))
    assert sent.status_code == 202
    as_gerze = await node.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, GERZE, HAISHU),
                                    headers=bearer(key))
    assert as_gerze.status_code == 403

    # The list shows it, never a secret: neither the key nor its hash.
    listed = await node.http.get("/v1/admin/keys", headers=AS_ADMIN)
    assert listed.status_code == 200
    mine = [k for k in listed.json()["items"] if k["key_id"] == key_id]
    assert mine == [{k: v for k, v in issued.items() if k != "key"}]
    secret = key.split("_", 2)[2]
    assert secret not in listed.text and "hash" not in listed.text

    gone = await node.http.delete(f"/v1/admin/keys/{key_id}", headers=AS_ADMIN)
    assert gone.status_code == 204
    refused = await node.http.get("/v1/inbox", headers=bearer(key))
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/problem+json")
    assert (await node.http.delete(f"/v1/admin/keys/{key_id}", headers=AS_ADMIN)).status_code == 204  # again: no-op
    unknown = await node.http.delete("/v1/admin/keys/0123456789ab", headers=AS_ADMIN)
    assert unknown.status_code == 404 and unknown.json()["type"] == "urn:mpx:problem:key_not_found"
    assert unknown.json()["title_zh"] == "没有该密钥"
    revoked = [k for k in (await node.http.get("/v1/admin/keys", headers=AS_ADMIN)).json()["items"]
               if k["key_id"] == key_id]
    assert revoked[0]["revoked_at"] is not None

    # The evidence chain says who made and who revoked the key, once each, and never holds its secret.
    chain = await entries(node.node.engine)
    made_or_revoked = [(e["event"], e["principal"], json.loads(e["detail"])) for e in chain
                       if e["event"] in ("key_created", "key_revoked")]
    assert made_or_revoked == [
        ("key_created", "admin-token", {"key_id": key_id, "role": "county_system", "counties": [HUI],
                                        "provinces": [], "expires_at": issued["expires_at"]}),
        ("key_revoked", "admin-token", {"key_id": key_id}),
    ]
    assert secret not in json.dumps(chain)
    assert (await verify(node.node.engine))[1] is None


async def test_keys_that_break_the_rules_are_refused_in_both_languages(federation: Federation):
    node = await federation.start(HUI, GERZE, admin_token=ADMIN)
    county_key = {"role": "county_system", "counties": [HUI], "name": "徽县系统"}
    wrong = {
        "a role that does not exist": ({**county_key, "role": "superuser"}, "role"),
        "a monitor's role on a county node": ({"role": "provincial_monitor", "provinces": ["62"], "name": "甘肃"},
                                               "role"),
        "a county this node does not serve": ({**county_key, "counties": [HAISHU]}, "counties/0"),
        "a province code as a county": ({**county_key, "counties": [HUI, "620000"]}, "counties/1"),
        "a code that never existed": ({**county_key, "counties": ["999999"]}, "counties/0"),
        "a county key for no county": ({**county_key, "counties": []}, "counties"),
        "a county key with provinces": ({**county_key, "provinces": ["62"]}, "provinces"),
        "an admin key for a county": ({"role": "admin", "counties": [HUI], "name": "管理员"}, "counties"),
        "no days": ({**county_key, "days": 0}, "days"),
        "more than ten years": ({**county_key, "days": 3651}, "days"),
        "a name of blanks": ({**county_key, "name": "   "}, "name"),
        "a control character in the name": ({**county_key, "name": "徽县\x00系统"}, "name"),
        "an unknown field": ({**county_key, "secret": "mine"}, "secret"),
    }
    before = (await node.http.get("/v1/admin/keys", headers=AS_ADMIN)).json()["items"]
    for what, (body, field) in wrong.items():
        response = await node.http.post("/v1/admin/keys", json=body, headers=AS_ADMIN)
        assert response.status_code == 422, f"{what}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "urn:mpx:problem:validation_failed" and problem["title_zh"]
        assert field in [e["field"] for e in problem["errors"]], f"{what}: {problem['errors']}"
        assert all(e["message"] and e["message_zh"] for e in problem["errors"])
    assert (await node.http.get("/v1/admin/keys", headers=AS_ADMIN)).json()["items"] == before
    assert not [e for e in await entries(node.node.engine) if e["event"] == "key_created"]

    # The console refuses what the endpoint refuses, and what it makes the endpoint lists and can revoke.
    refused = await _mpx(node, "keys", "create", "--role", "county_system", "--county", HAISHU, "--name", "海曙")
    assert refused.returncode == 2 and "counties/0" in refused.out and "not a county this node serves" in refused.out
    made = await _mpx(node, "keys", "create", "--role", "county_operator", "--county", GERZE, "--name", "改则县窗口",
                      "--days", "7")
    assert made.returncode == 0, made.out
    key = made.out.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    listed = {k["key_id"]: k for k in (await node.http.get("/v1/admin/keys", headers=AS_ADMIN)).json()["items"]}
    assert (listed[key_id]["role"], listed[key_id]["counties"]) == ("county_operator", [GERZE])
    assert (await node.http.get("/v1/inbox", params={"county": GERZE}, headers=bearer(key))).status_code == 200
    assert (await node.http.delete(f"/v1/admin/keys/{key_id}", headers=AS_ADMIN)).status_code == 204
    again = await _mpx(node, "keys", "revoke", key_id)
    assert again.returncode == 0 and "already revoked" in again.out
    assert (await _mpx(node, "keys", "revoke", "0123456789ab")).returncode == 1
    chain = await entries(node.node.engine)
    events = [(e["event"], e["principal"]) for e in chain if e["event"] in ("key_created", "key_revoked")]
    assert events[0][0] == "key_created" and events[0][1].startswith("cli")
    assert events[1] == ("key_revoked", "admin-token") and len(events) == 2


async def test_a_monitor_admin_issues_provincial_keys_within_its_scope(federation: Federation):
    hui = await federation.start(HUI)
    await federation.start(HAISHU)
    monitor = await federation.start_monitor("33", admin_token=ADMIN)
    await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))

    made = await monitor.post("/v1/admin/keys", headers=AS_ADMIN, json={
        "role": "provincial_monitor", "provinces": ["330000"], "name": "浙江省卫健委"})
    assert made.status_code == 201, made.text
    assert made.json()["provinces"] == ["33"]
    zhejiang = made.json()["key"]
    today = utcnow().date()
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=40)).isoformat()}

    async def groups(key: str) -> list[str] | None:
        response = await monitor.get("/v1/monitor/timeliness", params=params, headers=bearer(key))
        return [g["group"] for g in response.json()["groups"]] if response.status_code == 200 else None

    await eventually(lambda: _equal(groups(zhejiang), [HAISHU]), what="Haishu's obligation seen with the new key")

    outside = await monitor.post("/v1/admin/keys", headers=AS_ADMIN, json={
        "role": "provincial_monitor", "provinces": ["62"], "name": "甘肃省卫健委"})
    assert outside.status_code == 422
    assert [(e["field"], e["code"]) for e in outside.json()["errors"]] == [("provinces/0", "province_not_monitored")]
    county = await monitor.post("/v1/admin/keys", headers=AS_ADMIN, json={
        "role": "county_system", "counties": [HAISHU], "name": "海曙区系统"})
    assert county.status_code == 422 and county.json()["errors"][0]["code"] == "role_not_here"

    key_id = made.json()["key_id"]
    assert (await monitor.delete(f"/v1/admin/keys/{key_id}", headers=AS_ADMIN)).status_code == 204
    assert (await monitor.get("/v1/monitor/overdue", headers=bearer(zhejiang))).status_code == 401
    chain = await entries(federation.monitor_nodes[-1].engine)
    assert [(e["event"], e["principal"]) for e in chain if e["event"].startswith("key_")] == [
        ("key_created", "admin-token"), ("key_revoked", "admin-token")]


class _Ran:
    def __init__(self, returncode: int, out: str):
        self.returncode, self.out = returncode, out


async def _mpx(node: RunningNode, *args: str) -> _Ran:
    """`mpx …` at the node's console: its database and counties."""
    env = {**os.environ, "DATABASE_URL": node.settings.database_url, "MPX_COUNTIES": ",".join(node.settings.counties),
           "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "exchange.entrypoints.cli", *args, cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    return _Ran(process.returncode, out.decode())


def _time(text: str):  # noqa: ANN202
    from datetime import datetime

    return datetime.fromisoformat(text)


async def _equal(value, expected) -> bool:  # noqa: ANN001
    return await value == expected


async def test_replicas_starting_together_register_their_bootstrap_key_once(fresh_postgres_url: str):
    """Every replica of a node starts with the same MPX_BOOTSTRAP_KEY on one database; they register it at the same
    moment (make bench's two processes did, and the second exited with a duplicate key)."""
    from exchange.adapters.api_keys import KeyStore
    from exchange.adapters.crypto import apikeys
    from exchange.adapters.sql.database import create_engine, migrate
    from exchange.adapters.unit_of_work import evidence_only
    from exchange.domain.principals import Role

    await migrate(fresh_postgres_url)
    engine = create_engine(fresh_postgres_url)
    try:
        _, key, _ = apikeys.new_key()
        replicas = [KeyStore(engine, evidence_only(engine)) for _ in range(8)]
        issued = await asyncio.gather(*(store.create(name="local case system (MPX_BOOTSTRAP_KEY)",
                                                     role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}), key=key)
                                        for store in replicas))
        assert {i.key for i in issued} == {key}
        assert (await replicas[0].authenticate(key)).acts_for(HUI)
    finally:
        await engine.dispose()
