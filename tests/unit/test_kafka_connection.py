"""The Kafka security settings become the same client options for every client, and half-made ones are refused."""

from __future__ import annotations

import importlib.util
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange.adapters.kafka.connection import client_options, describe
from exchange.config import Settings

PASSWORD = "s3cret-Hq7vN2pL"
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CA file, made by the same helper as the test broker's."""
    spec = importlib.util.spec_from_file_location("kafka_tls", REPO / "deploy" / "kafka" / "tls.py")
    tls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tls)
    directory = tmp_path_factory.mktemp("tls")
    tls.write_tls(directory)
    return directory / "ca.pem"


def test_by_default_a_node_connects_in_plaintext_with_nothing_else():
    assert client_options(Settings(kafka_bootstrap_servers="k1:9092,k2:9092")) == {
        "bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_gives_scram_credentials_and_a_verifying_tls_context(ca: Path):
    options = client_options(Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="hui-node",
                                      kafka_sasl_password=PASSWORD, kafka_ssl_cafile=ca))
    context = options.pop("ssl_context")
    assert options == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_SSL",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "hui-node",
                       "sasl_plain_password": PASSWORD}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # the CA given, not the system's


def test_ssl_alone_needs_no_login_and_uses_the_system_cas_without_a_ca_file():
    options = client_options(Settings(kafka_security_protocol="SSL"))
    assert "sasl_mechanism" not in options and options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_sasl_plaintext_carries_no_tls_context():
    options = client_options(Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-256",
                                      kafka_sasl_username="u", kafka_sasl_password=PASSWORD))
    assert options["sasl_mechanism"] == "SCRAM-SHA-256" and "ssl_context" not in options


def test_the_settings_come_from_the_environment(monkeypatch, ca: Path):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.gov.internal:9094")
    monkeypatch.setenv("MPX_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MPX_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("MPX_KAFKA_SASL_USERNAME", "hui-node")
    monkeypatch.setenv("MPX_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("MPX_KAFKA_SSL_CAFILE", str(ca))
    settings = Settings()
    assert settings.kafka_sasl_password.get_secret_value() == PASSWORD
    assert describe(client_options(settings)) == "kafka.gov.internal:9094 (SASL_SSL SCRAM-SHA-256 as hui-node)"


def test_the_password_shows_in_no_repr_or_description(ca: Path):
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password=PASSWORD,
                        kafka_ssl_cafile=ca)
    for text in (repr(settings), str(settings), str(settings.model_dump()), describe(client_options(settings))):
        assert PASSWORD not in text


@pytest.mark.parametrize(("settings", "complaint"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"}, "needs MPX_KAFKA_SASL_USERNAME and"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_password": PASSWORD}, "needs MPX_KAFKA_SASL_USERNAME"),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": PASSWORD}, "would not use them"),
    ({"kafka_security_protocol": "SSL", "kafka_sasl_password": PASSWORD}, "would not use them"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
      "kafka_sasl_password": PASSWORD}, "PLAIN would send the password unencrypted"),
    ({"kafka_ssl_cafile": "/etc/ca.pem"}, "does not use TLS"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u", "kafka_sasl_password": PASSWORD,
      "kafka_ssl_certfile": "/etc/c.pem"}, "does not use TLS"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/etc/k.pem"}, "needs MPX_KAFKA_SSL_CERTFILE"),
    ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "u",
      "kafka_sasl_password": PASSWORD}, "kafka_sasl_mechanism"),
])
def test_incoherent_security_settings_are_refused_without_repeating_the_password(settings, complaint):
    with pytest.raises(ValidationError) as refused:
        Settings(**settings)
    assert complaint in str(refused.value)
    assert PASSWORD not in str(refused.value) and PASSWORD not in repr(refused.value)  # what a start-up log shows


def test_plain_is_accepted_over_tls():
    options = client_options(Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                                      kafka_sasl_username="u", kafka_sasl_password=PASSWORD))
    assert options["sasl_mechanism"] == "PLAIN"


def test_a_missing_ca_file_stops_the_node_at_start_naming_the_file(tmp_path: Path):
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "missing-ca.pem")
    with pytest.raises(OSError, match="missing-ca.pem|No such file"):
        client_options(settings)
