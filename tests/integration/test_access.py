"""Who may do what: every role × endpoint pair that must be refused is refused, and leaves an audit line.

Keys are made the way an operator makes them (the node's key store, as `mpx keys create` does).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import MessageType
from exchange.adapters.crypto.evidence import entries, verify
from exchange.domain.clock import utcnow
from exchange.domain.principals import Role
from tests.integration.conftest import Federation, eventually, in_inbox
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, feedback, message

ADMIN = "access-admin-token"


@pytest.fixture
async def setting(federation: Federation):
    """A node serving Hui and Gêrzê, one serving Haishu, a record from Hui to Haishu, and keys of every role."""
    registration = await federation.start(HUI, GERZE, admin_token=ADMIN)
    haishu = await federation.start(HAISHU, admin_token=ADMIN)
    record = await registration.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    await eventually(lambda: in_inbox(haishu, record), what="the record at Haishu")
    store = registration.node.keys
    keys = {
        "hui_system": (await store.create(name="徽县系统", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}))).key,
        "gerze_system": (await store.create(name="改则县系统", role=Role.COUNTY_SYSTEM,
                                            counties=frozenset({GERZE}))).key,
        "hui_operator": (await store.create(name="徽县窗口", role=Role.COUNTY_OPERATOR,
                                            counties=frozenset({HUI}))).key,
        "zhejiang_monitor": (await store.create(name="浙江省监测", role=Role.PROVINCIAL_MONITOR,
                                                provinces=frozenset({"33"}))).key,
        "national_monitor": (await store.create(name="全国监测", role=Role.NATIONAL_MONITOR)).key,
        "expired": (await store.create(name="过期", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}),
                                       expires_at=utcnow() - timedelta(days=1))).key,
        "admin": ADMIN,
        "none": None,
    }
    haishu_key = (await haishu.node.keys.create(name="海曙区系统", role=Role.COUNTY_SYSTEM,
                                                 counties=frozenset({HAISHU}))).key
    return registration, haishu, record, keys, haishu_key


def outflow_from(county: str) -> dict:
    return message(MessageType.OUTFLOW_REGISTRATION, county, HAISHU, 3)


#: Every holder but the admin token.
NOT_ADMINS = ["none", "expired", "hui_system", "gerze_system", "hui_operator", "zhejiang_monitor", "national_monitor"]

# endpoint on the registration node -> (method, path, body) and the keys that must be refused there
REFUSALS = [
    ("send as Hui", "POST", "/v1/messages", lambda r: outflow_from(HUI),
     ["none", "expired", "gerze_system", "hui_operator", "zhejiang_monitor", "national_monitor", "admin"]),
    ("batch as Hui", "POST", "/v1/messages/batch", lambda r: {"messages": [outflow_from(HUI)]},
     ["none", "gerze_system", "hui_operator", "zhejiang_monitor", "national_monitor", "admin"]),
    ("Hui's inbox", "GET", "/v1/inbox?county=621227", None,
     ["none", "gerze_system", "zhejiang_monitor", "national_monitor"]),
    ("Hui's message", "GET", "/v1/messages/{record}", None,
     ["none", "gerze_system", "zhejiang_monitor", "national_monitor"]),
    ("Hui's obligations", "GET", "/v1/obligations?county=621227", None,
     ["none", "gerze_system", "zhejiang_monitor", "national_monitor"]),
    ("Hui's reminders", "GET", "/v1/reminders?county=621227", None,
     ["none", "gerze_system", "zhejiang_monitor", "national_monitor"]),
    ("publish an agreement", "POST", "/v1/agreements",
     lambda r: {"id": "x", "version": 1, "parties": ["330000", "620000"], "effective_from": "2026-01-01"},
     ["none", "hui_system", "hui_operator", "zhejiang_monitor", "national_monitor"]),
    ("add a holiday", "POST", "/v1/calendar/overrides",
     lambda r: {"region": "540000", "date": "2027-02-07", "kind": "holiday"},
     ["none", "hui_system", "hui_operator", "zhejiang_monitor", "national_monitor"]),
    ("replay quarantine", "POST", "/v1/quarantine/1/replay", None,
     ["none", "hui_system", "hui_operator", "zhejiang_monitor", "national_monitor"]),
    ("run reconciliation", "POST", "/v1/reconciliation/run", None,
     ["none", "hui_system", "hui_operator", "zhejiang_monitor", "national_monitor"]),
    ("the calendar", "GET", "/v1/calendar/621227", None, ["none", "expired"]),
    ("make a key", "POST", "/v1/admin/keys", lambda r: {"role": "county_system", "counties": [HUI], "name": "徽县"},
     NOT_ADMINS),
    ("list the keys", "GET", "/v1/admin/keys", None, NOT_ADMINS),
    ("revoke a key", "DELETE", "/v1/admin/keys/{key}", None, NOT_ADMINS),
]


async def test_every_refusal(setting):
    registration, _haishu, record, keys, _ = setting
    refused = anonymous = 0
    for what, method, path, body, who in REFUSALS:
        for holder in who:
            headers = {"Authorization": f"Bearer {keys[holder]}"} if keys[holder] else {"Authorization": ""}
            response = await registration.http.request(
                method, path.format(record=record, key=_key_id(keys["hui_operator"])),
                json=body(record) if body else None, headers=headers)
            assert response.status_code in (401, 403, 404), f"{holder} may {what}: {response.status_code}"
            if response.status_code == 404:  # a message outside one's counties is simply not there
                assert path.startswith("/v1/messages/") and response.json()["type"].endswith("message_not_found")
            else:
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["title_zh"]
            refused += 1
            anonymous += holder in ("none", "expired")
    print(f"refused {refused} role x endpoint pairs")
    chain = await entries(registration.node.engine)
    # A known key's refusal leaves a line (404s none); one without a valid credential is only counted in the metrics.
    assert sum(1 for e in chain if e["event"] == "refused") >= refused - anonymous - 8
    assert not [e for e in chain if e["event"] == "refused" and not e["principal"]]
    metrics = (await registration.http.get("/metrics")).text
    without_credential = sum(holder == "none" for *_, who in REFUSALS for holder in who)
    assert f'mpx_http_anonymous_refusals_total{{refusal="no_credential"}} {float(without_credential)}' in metrics
    assert (await verify(registration.node.engine))[1] is None
    # No key was made or revoked by a refused request: the operator's key still reads.
    assert not [e for e in chain if e["event"] in ("key_created", "key_revoked")]
    assert (await registration.http.get("/v1/inbox", headers={"Authorization": f"Bearer {keys['hui_operator']}"})
            ).status_code == 200


async def test_a_county_may_not_speak_for_another_even_on_a_shared_node(setting):
    registration, _haishu, _record, keys, _ = setting
    response = await registration.http.post("/v1/messages", json=outflow_from(GERZE),
                                            headers={"Authorization": f"Bearer {keys['hui_system']}"})
    assert response.status_code == 403 and response.json()["type"] == "urn:mpx:problem:not_your_county"
    allowed = await registration.http.post("/v1/messages", json=outflow_from(GERZE),
                                           headers={"Authorization": f"Bearer {keys['gerze_system']}"})
    assert allowed.status_code == 202


async def test_only_the_receiving_county_answers_and_operators_only_read(setting):
    registration, haishu, record, keys, haishu_key = setting
    operator = {"Authorization": f"Bearer {keys['hui_operator']}"}
    assert (await registration.http.get("/v1/inbox", headers=operator)).status_code == 200
    assert (await registration.http.get(f"/v1/messages/{record}", headers=operator)).status_code == 200
    hui_key_at_haishu = await haishu.http.post(f"/v1/messages/{record}/feedback", json={"data": feedback("confirmed")},
                                               headers={"Authorization": f"Bearer {keys['hui_system']}"})
    assert hui_key_at_haishu.status_code == 401  # keys belong to the node that issued them
    answered = await haishu.http.post(f"/v1/messages/{record}/feedback", json={"data": feedback("confirmed")},
                                      headers={"Authorization": f"Bearer {haishu_key}"})
    assert answered.status_code == 202


async def test_a_revoked_key_stops_working(setting):
    registration, _haishu, _record, keys, _ = setting
    headers = {"Authorization": f"Bearer {keys['hui_operator']}"}
    assert (await registration.http.get("/v1/inbox", headers=headers)).status_code == 200
    key_id = keys["hui_operator"].split("_")[1]
    assert await registration.node.keys.revoke(key_id)
    assert (await registration.http.get("/v1/inbox", headers=headers)).status_code == 401


async def test_a_key_over_its_rate_limit_waits(federation: Federation):
    node = await federation.start(HUI, rate_limit_per_minute=5)
    statuses = [(await node.http.get("/v1/inbox")).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    limited = await node.http.get("/v1/inbox")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_monitors_see_only_their_province(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    monitor = await federation.start_monitor("all")
    node = federation.monitor_nodes[-1]
    zhejiang = (await node.keys.create(name="浙江", role=Role.PROVINCIAL_MONITOR, provinces=frozenset({"33"}))).key
    gansu = (await node.keys.create(name="甘肃", role=Role.PROVINCIAL_MONITOR, provinces=frozenset({"62"}))).key
    county = (await node.keys.create(name="县", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}))).key
    to_haishu = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    to_hui = await haishu.client.send(message(MessageType.PREGNANCY_CHECK, HAISHU, HUI, 2))
    today = utcnow().date()
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=40)).isoformat()}

    async def groups(key: str | None) -> list[str]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = (await monitor.get("/v1/monitor/timeliness", params=params, headers=headers)).json()
        return [g["group"] for g in body["groups"]]

    await eventually(lambda: _groups_are(groups, None, [HAISHU, HUI]), what="both obligations at the monitor")
    assert await groups(zhejiang) == [HAISHU] and await groups(gansu) == [HUI]
    refused = await monitor.get("/v1/monitor/overdue", headers={"Authorization": f"Bearer {county}"})
    assert refused.status_code == 403
    assert (await monitor.get("/v1/monitor/overdue", headers={"Authorization": ""})).status_code == 401
    assert to_haishu and to_hui


async def test_only_admins_manage_a_monitors_keys(federation: Federation):
    monitor = await federation.start_monitor("all", admin_token=ADMIN)
    node = federation.monitor_nodes[-1]
    store = node.keys
    holders = {
        "none": None,
        "county_system": (await store.create(name="县", role=Role.COUNTY_SYSTEM, counties=frozenset({HUI}))).key,
        "zhejiang_monitor": (await store.create(name="浙江", role=Role.PROVINCIAL_MONITOR,
                                                provinces=frozenset({"33"}))).key,
        "national_monitor": (await store.create(name="全国", role=Role.NATIONAL_MONITOR)).key,
        "expired_admin": (await store.create(name="过期管理员", role=Role.ADMIN,
                                             expires_at=utcnow() - timedelta(days=1))).key,
    }
    target = _key_id(holders["zhejiang_monitor"])
    endpoints = [("POST", "/v1/admin/keys", {"role": "national_monitor", "name": "全国"}),
                 ("GET", "/v1/admin/keys", None), ("DELETE", f"/v1/admin/keys/{target}", None)]
    refused = 0
    for method, path, body in endpoints:
        for holder, key in holders.items():
            response = await monitor.request(method, path, json=body,
                                             headers={"Authorization": f"Bearer {key}" if key else ""})
            expected = 403 if holder in ("county_system", "zhejiang_monitor", "national_monitor") else 401
            assert response.status_code == expected, f"{holder} may {method} {path}: {response.status_code}"
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["title_zh"]
            refused += expected == 403
    chain = await entries(node.engine)
    assert sum(1 for e in chain if e["event"] == "refused") == refused  # 401s are counted in the metrics instead
    assert not [e for e in chain if e["event"] in ("key_created", "key_revoked")]
    admin_key = (await store.create(name="省信息中心", role=Role.ADMIN)).key
    listed = await monitor.get("/v1/admin/keys", headers={"Authorization": f"Bearer {admin_key}"})
    assert listed.status_code == 200 and target in [k["key_id"] for k in listed.json()["items"]]


def _key_id(key: str) -> str:
    return key.split("_")[1]


async def _groups_are(groups, key, expected) -> bool:  # noqa: ANN001
    return await groups(key) == expected
