"""A node deployed with development defaults: in production it refuses to start, and says what to set and why.

Left at their defaults, a node stores ID numbers and its private keys in clear (no payload key), hashes ID numbers
with a secret anyone can derive from its node id (which travels in receipts: an ID number is found from its hash
in seconds), accepts a guessable admin token, fetches its identity provider's keys over plain HTTP (anyone on the
path could sign tokens), serves traffic figures to anyone, and keeps its bootstrap key for ever. With
``MPX_ENV=production`` each of these stops the node at start, all named at once in Chinese and English;
``make run`` (development, the default) keeps working with a warning for each. Secrets never show in
``repr(Settings)``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from contracts import MessageType
from exchange.adapters.crypto.payload_crypto import new_key
from exchange.config import Settings
from exchange.domain.clock import utcnow
from exchange.entrypoints.http.app import create_app
from exchange.production import UnsafeSettings, refuse_unsafe
from tests.integration.conftest import Federation, eventually, in_inbox
from tests.integration.conftest import test_key as api_key
from tests.integration.test_round_trip import HAISHU, HUI, message

ROOT = Path(__file__).parents[2]
SHORT_ADMIN_TOKEN = "admin123"
BOOTSTRAP_KEY = api_key()
UNSAFE = {  # setting -> what the refusal must say about it
    "MPX_PAYLOAD_KEYS": "MPX_PAYLOAD_KEYS",
    "MPX_PERSON_KEY_SECRET": "MPX_PERSON_KEY_SECRET",
    "MPX_ADMIN_TOKEN": "MPX_ADMIN_TOKEN",
    "MPX_JWT_JWKS_URL": "MPX_JWT_JWKS_URL",
    "MPX_METRICS_TOKEN": "MPX_METRICS_TOKEN",
    "MPX_BOOTSTRAP_KEY": "MPX_BOOTSTRAP_KEY_EXPIRES_AT",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def safe_production(**more: object) -> dict[str, object]:
    """Every setting the production check looks at, set as an operator must."""
    return {"env": "production", "payload_keys": f"p1:{new_key()}", "person_key_secret": "s" * 20 + new_key(),
            "admin_token": new_key(), "metrics_token": new_key(), "bootstrap_key": api_key(),
            "bootstrap_key_expires_at": utcnow() + timedelta(days=90), **more}


def test_a_production_node_with_development_defaults_refuses_to_start_and_names_every_setting(tmp_path):
    port = free_port()
    database = tmp_path / "node.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MPX_")}
    env.update({
        "MPX_ENV": "production", "MPX_PORT": str(port), "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "MPX_ADMIN_TOKEN": SHORT_ADMIN_TOKEN,
        "MPX_JWT_JWKS_URL": "http://idp.example/certs", "MPX_JWT_ISSUER": "https://idp.example",
        "MPX_JWT_AUDIENCE": "mpx", "MPX_BOOTSTRAP_KEY": BOOTSTRAP_KEY,
    })
    process = subprocess.Popen([sys.executable, "-m", "exchange.entrypoints.cli", "node"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the node started in production with unsafe settings:\n{output[-2000:]}")
    assert process.returncode != 0
    for setting, named in UNSAFE.items():
        assert named in output, f"{setting} not named:\n{output}"
    assert "生产环境" in output and "production" in output
    assert SHORT_ADMIN_TOKEN not in output and BOOTSTRAP_KEY not in output  # named, never repeated
    assert not database.exists()  # refused before anything was touched


def test_each_unsafe_setting_alone_is_refused_in_production():
    unsafe = {
        "MPX_PAYLOAD_KEYS": {"payload_keys": ""},
        "MPX_PERSON_KEY_SECRET": {"person_key_secret": ""},
        "MPX_ADMIN_TOKEN": {"admin_token": SHORT_ADMIN_TOKEN},
        "MPX_JWT_JWKS_URL": {"jwt_jwks_url": "http://idp.example/certs", "jwt_issuer": "i", "jwt_audience": "a"},
        "MPX_METRICS_TOKEN": {"metrics_token": ""},
        "MPX_BOOTSTRAP_KEY_EXPIRES_AT": {"bootstrap_key_expires_at": None},
        "MPX_WEBHOOK_HOSTS": {"webhook_hosts": "cases.haishu.example,*"},
    }
    refuse_unsafe(Settings(**safe_production()))  # all set: starts
    for setting, change in unsafe.items():
        with pytest.raises(UnsafeSettings) as refused:
            refuse_unsafe(Settings(**safe_production(**change)))
        assert [p.setting for p in refused.value.problems] == [setting]
        assert refused.value.problems[0].why_zh and refused.value.problems[0].why


def test_secrets_never_show_in_the_settings_repr():
    settings = Settings(**safe_production(kafka_security_protocol="SASL_SSL", kafka_sasl_username="node",
                                          kafka_sasl_password="sasl-secret-of-the-test"))
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    secrets = [settings.payload_keys, settings.person_key_secret, settings.admin_token, settings.metrics_token,
               settings.bootstrap_key, settings.kafka_sasl_password]
    for secret in secrets:
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        assert value and value not in shown


def test_development_starts_with_a_warning_for_each_unsafe_setting(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}", admin_token=SHORT_ADMIN_TOKEN,
                        bootstrap_key=BOOTSTRAP_KEY))
    warned = " ".join(r.getMessage() for r in caplog.records)
    for setting in UNSAFE.values():
        if setting != "MPX_JWT_JWKS_URL":  # none configured
            assert setting in warned
    assert SHORT_ADMIN_TOKEN not in warned and BOOTSTRAP_KEY not in warned


async def test_a_production_node_configured_as_it_must_be_exchanges_records(federation: Federation):
    settings = {k: v for k, v in safe_production().items() if k != "bootstrap_key"}  # the federation gives its own
    hui = await federation.start(HUI, **settings)
    haishu = await federation.start(HAISHU, **{**settings, "payload_keys": f"p2:{new_key()}"})
    sent = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU))
    await eventually(lambda: in_inbox(haishu, sent), what="the record at Haishu")
    scrape = hui.settings.metrics_token.get_secret_value()
    assert (await hui.http.get("/metrics", headers={"Authorization": ""})).status_code == 401
    assert (await hui.http.get("/metrics", headers={"Authorization": f"Bearer {scrape}"})).status_code == 200


async def test_the_bootstrap_key_expires_when_its_setting_says(federation: Federation):
    node = await federation.start(HUI, bootstrap_key_expires_at=utcnow() - timedelta(minutes=1))
    assert (await node.http.get("/v1/inbox")).status_code == 401
