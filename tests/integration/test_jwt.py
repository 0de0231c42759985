"""People and systems signed in at the office's identity provider call nodes and monitors with its JWTs.

The identity provider is real enough to be believed or not: an RSA key pair made here, its JWKS served over HTTP on
loopback, and tokens signed with PyJWT. Nodes and monitors are configured with MPX_JWT_JWKS_URL, MPX_JWT_ISSUER and
MPX_JWT_AUDIENCE and fetch the key set themselves.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import func, select

from contracts import MessageType
from exchange.adapters.crypto.evidence import entries, verify
from exchange.adapters.sql.tables import messages
from exchange.domain.clock import utcnow
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import GERZE, HAISHU, HUI, message

ISSUER = "https://idp.gansu-health.example/realms/mpx"
AUDIENCE = "mpx-exchange"


class IdentityProvider:
    """The office's identity provider: RSA signing keys, and their public halves as a JWKS over HTTP."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.kid = self.add_key()
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                provider.fetches += 1
                body = json.dumps(provider.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="jwks", daemon=True)
        self.thread.start()

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def settings(self, **more: Any) -> dict[str, Any]:
        return {"jwt_jwks_url": self.jwks_url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, **more}

    def add_key(self) -> str:
        kid = f"idp-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def rotate(self) -> str:
        """A new signing key; the old one leaves the key set."""
        old = self.kid
        self.kid = self.add_key()
        del self.keys[old]
        return self.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig",
                          "alg": "RS256"} for kid, key in self.keys.items()]}

    def token(self, role: str, *, sub: str = "someone", key: rsa.RSAPrivateKey | None = None,
              kid: str | None = None, algorithm: str = "RS256", lifetime: timedelta = timedelta(minutes=5),
              drop: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now,
                   "exp": now + int(lifetime.total_seconds()), "mpx_role": role, **claims}
        for name in drop:
            payload.pop(name)
        signing = key if key is not None else self.keys[self.kid]
        return jwt.encode(payload, signing, algorithm=algorithm, headers={"kid": kid or self.kid})

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_county_system_signed_in_at_the_office_sends_and_reads_as_its_county(federation: Federation, idp):
    hui = await federation.start(HUI, **idp.settings())
    token = idp.token("county_system", sub="hui-case-system", mpx_counties=[HUI])

    sent = await hui.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU),
                               headers=bearer(token))
    assert sent.status_code == 202, sent.text
    record = sent.json()["id"]
    read = await hui.http.get(f"/v1/messages/{record}", headers=bearer(token))
    assert read.status_code == 200 and read.json()["sender"] == HUI
    assert (await hui.http.get("/v1/inbox", params={"county": HUI}, headers=bearer(token))).status_code == 200
    accepted = [e for e in await entries(hui.node.engine, [record]) if e["event"] == "accepted"]
    assert [e["principal"] for e in accepted] == ["jwt:hui-case-system"]
    assert idp.fetches >= 1  # the node fetched the key set over HTTP itself


async def test_tokens_the_node_must_not_believe_are_refused(federation: Federation, idp):
    hui = await federation.start(HUI, GERZE, **idp.settings())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = idp.keys[idp.kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    county = {"mpx_counties": [HUI]}
    unbelievable = {
        "for another service (audience)": idp.token("county_system", aud="another-app", **county),
        "from another issuer": idp.token("county_system", iss="https://idp.elsewhere.example", **county),
        "expired ten minutes ago": idp.token("county_system", lifetime=timedelta(minutes=-10), **county),
        "signed by another key under the provider's key id": idp.token("county_system", key=stranger, **county),
        "signed by a key the provider does not publish": idp.token("county_system", key=stranger, kid="idp-forged",
                                                                   **county),
        "HS256 with the public key as its secret": _hs256_with(public_pem, idp.kid, **county),
        "unsigned (alg none)": _unsigned(idp.kid, **county),
        "without an expiry": idp.token("county_system", drop=("exp",), **county),
        "without an audience": idp.token("county_system", drop=("aud",), **county),
        "with its county as a bare string": idp.token("county_system", mpx_counties=HUI),
        "with its counties as numbers": idp.token("county_system", mpx_counties=[621227]),
        "with a role that does not exist": idp.token("superuser", **county),
        "for a county role without counties": idp.token("county_system"),
    }
    before = await _stored(hui)
    for what, token in unbelievable.items():
        response = await hui.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU),
                                       headers=bearer(token))
        assert response.status_code == 401, f"a token {what} was believed: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["title_zh"] and token not in response.text

    # Believed, but not for this county or this act: refused all the same.
    gerze = idp.token("county_system", sub="gerze-case-system", mpx_counties=[GERZE])
    operator = idp.token("county_operator", sub="hui-clerk", mpx_counties=[HUI])
    as_hui = await hui.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU),
                                 headers=bearer(gerze))
    assert as_hui.status_code == 403 and as_hui.json()["type"] == "urn:mpx:problem:not_your_county"
    hui_inbox = await hui.http.get("/v1/inbox", params={"county": HUI}, headers=bearer(gerze))
    assert hui_inbox.status_code == 403 and hui_inbox.json()["type"] == "urn:mpx:problem:not_your_county"
    sending = await hui.http.post("/v1/messages", json=message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU),
                                  headers=bearer(operator))
    assert sending.status_code == 403 and sending.json()["type"] == "urn:mpx:problem:forbidden"
    assert (await hui.http.get("/v1/inbox", params={"county": HUI}, headers=bearer(operator))).status_code == 200

    assert await _stored(hui) == before  # nothing refused was stored
    chain = await entries(hui.node.engine)
    refused = [e for e in chain if e["event"] == "refused"]
    assert len(refused) == 3  # tokens not believed (401) are counted in the metrics, not chained
    assert {e["principal"] for e in refused} == {"jwt:gerze-case-system", "jwt:hui-clerk"}
    metrics = (await hui.http.get("/metrics")).text
    assert f'mpx_http_anonymous_refusals_total{{refusal="invalid_credential"}} {float(len(unbelievable))}' in metrics
    assert not any(token in json.dumps(chain) for token in [*unbelievable.values(), gerze, operator])
    assert (await verify(hui.node.engine))[1] is None


async def test_a_key_the_identity_provider_drops_stops_working(federation: Federation, idp):
    hui = await federation.start(HUI, **idp.settings(jwt_jwks_cache_seconds=1))
    old = idp.token("county_operator", sub="hui-clerk", mpx_counties=[HUI])
    assert (await hui.http.get("/v1/inbox", headers=bearer(old))).status_code == 200

    idp.rotate()
    new = idp.token("county_operator", sub="hui-clerk", mpx_counties=[HUI])

    async def inbox_status(token: str) -> int:
        return (await hui.http.get("/v1/inbox", headers=bearer(token))).status_code

    await eventually(lambda: _is(inbox_status(old), 401), timeout=10, what="the dropped key refused")
    await eventually(lambda: _is(inbox_status(new), 200), timeout=10, what="the new key believed")
    assert await inbox_status(old) == 401


async def test_while_the_identity_provider_is_away_its_tokens_are_refused_and_the_operator_told(
    federation: Federation, idp, caplog: pytest.LogCaptureFixture
):
    token = idp.token("county_operator", sub="hui-clerk", mpx_counties=[HUI])
    settings = idp.settings()
    idp.close()  # the provider is down before the node ever reached it
    hui = await federation.start(HUI, **settings)
    with caplog.at_level("WARNING", logger="exchange.entrypoints.http.auth"):
        refused = await hui.http.get("/v1/inbox", headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["type"] == "urn:mpx:problem:unauthenticated"
    warnings = [r.getMessage() for r in caplog.records if r.name == "exchange.entrypoints.http.auth"]
    assert warnings and f"JWKS at {settings['jwt_jwks_url']} not reachable" in warnings[0]
    assert not any(token in r.getMessage() for r in caplog.records)
    assert (await hui.http.get("/v1/inbox")).status_code == 200  # the local system's API key still works


async def test_an_admin_signed_in_at_the_office_issues_a_key(federation: Federation, idp):
    hui = await federation.start(HUI, **idp.settings())
    admin = idp.token("admin", sub="gansu-it-admin")
    made = await hui.http.post("/v1/admin/keys", headers=bearer(admin),
                               json={"role": "county_operator", "counties": [HUI], "name": "徽县窗口", "days": 90})
    assert made.status_code == 201, made.text
    created = [e for e in await entries(hui.node.engine) if e["event"] == "key_created"]
    assert [(e["principal"], json.loads(e["detail"])["key_id"]) for e in created] == [
        ("jwt:gansu-it-admin", made.json()["key_id"])]
    county = idp.token("county_system", sub="hui-case-system", mpx_counties=[HUI])
    refused = await hui.http.get("/v1/admin/keys", headers=bearer(county))
    assert refused.status_code == 403 and refused.json()["type"] == "urn:mpx:problem:forbidden"


async def test_a_provincial_monitor_signed_in_at_the_office_sees_its_province_only(federation: Federation, idp):
    hui = await federation.start(HUI)
    await federation.start(HAISHU)
    monitor = await federation.start_monitor("33", **idp.settings())
    await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1))
    today = utcnow().date()
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=40)).isoformat()}

    async def timeliness(token: str):  # noqa: ANN202
        return await monitor.get("/v1/monitor/timeliness", params=params, headers=bearer(token))

    zhejiang = idp.token("provincial_monitor", sub="zhejiang-health-commission", mpx_provinces=["330000"])
    await eventually(lambda: _groups_are(timeliness(zhejiang), [HAISHU]), what="Haishu's obligation at the monitor")
    national = idp.token("national_monitor", sub="nhc")
    assert [g["group"] for g in (await timeliness(national)).json()["groups"]] == [HAISHU]

    gansu = await timeliness(idp.token("provincial_monitor", sub="gansu-health-commission", mpx_provinces=["62"]))
    assert gansu.status_code == 403 and gansu.json()["type"] == "urn:mpx:problem:province_not_monitored"
    county = await timeliness(idp.token("county_system", sub="haishu-case-system", mpx_counties=[HAISHU]))
    assert county.status_code == 403 and county.json()["type"] == "urn:mpx:problem:forbidden"
    elsewhere = await timeliness(idp.token("provincial_monitor", aud="another-app", mpx_provinces=["33"]))
    assert elsewhere.status_code == 401 and elsewhere.headers["content-type"].startswith("application/problem+json")
    chain = await entries(federation.monitor_nodes[-1].engine)
    assert [e["principal"] for e in chain if e["event"] == "refused"] == [
        "jwt:gansu-health-commission", "jwt:haishu-case-system"]  # the 401 is counted in the metrics instead


def _hs256_with(secret: bytes, kid: str, **claims: Any) -> str:
    """What an attacker who read the public key would try: HMAC with the public key as the shared secret."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "attacker", "iat": now, "exp": now + 300,
               "mpx_role": "county_system", **claims}
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "." + b64(
        json.dumps(payload).encode())
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _unsigned(kid: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "attacker", "iat": now, "exp": now + 300,
               "mpx_role": "county_system", **claims}
    return jwt.encode(payload, None, algorithm="none", headers={"kid": kid})


async def _stored(node) -> int:  # noqa: ANN001
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(messages))


async def _is(status, expected: int) -> bool:  # noqa: ANN001
    return await status == expected


async def _groups_are(response, expected: list[str]) -> bool:  # noqa: ANN001
    answer = await response
    return answer.status_code == 200 and [g["group"] for g in answer.json()["groups"]] == expected
