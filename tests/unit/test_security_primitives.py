"""Signatures, payload encryption, the evidence chain, API keys and the role policy, on their own."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.adapters.crypto import apikeys
from exchange.adapters.crypto.audit import GENESIS, entry_hash, verify_chain
from exchange.adapters.crypto.canonical import message_bytes
from exchange.adapters.crypto.payload_crypto import PayloadCipher, new_key
from exchange.adapters.crypto.signing import KeyRing, PublicKey, SignatureError, SigningKey
from exchange.domain.principals import Permission, Principal, Role

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ATTRS = {"id": "m1", "senderregion": "621227", "receiverregion": "330203", "type": "cn.mpx.birth"}


def ring_with(*keys: SigningKey) -> KeyRing:
    ring = KeyRing()
    for key in keys:
        ring.add_signing(key)
    return ring


def test_a_record_signed_by_its_county_verifies_on_another_node():
    key = SigningKey.generate("621227", "hui-2026", T0)
    message = message_bytes(ATTRS, {"x": 1})
    key_id, signature = ring_with(key).sign("621227", message, T0 + timedelta(days=1))
    receiver = KeyRing()
    receiver.add_public(PublicKey.from_dict(key.public_key().to_dict()))  # only the public half travels
    receiver.verify("621227", key_id, signature, message, T0 + timedelta(days=1))


@pytest.mark.parametrize("tamper", ["data", "attributes", "county"])
def test_an_altered_or_forged_record_is_refused(tamper):
    hui = SigningKey.generate("621227", "hui", T0)
    gerze = SigningKey.generate("542526", "gerze", T0)
    ring = ring_with(hui, gerze)
    key_id, signature = ring.sign("621227", message_bytes(ATTRS, {"x": 1}), T0)
    altered = {
        "data": message_bytes(ATTRS, {"x": 2}),
        "attributes": message_bytes({**ATTRS, "receiverregion": "542526"}, {"x": 1}),
        "county": message_bytes(ATTRS, {"x": 1}),
    }[tamper]
    county = "542526" if tamper == "county" else "621227"
    with pytest.raises(SignatureError):
        ring.verify(county, key_id if tamper != "county" else "gerze", signature, altered, T0)


def test_an_unsigned_record_and_an_unknown_key_are_refused():
    ring = ring_with(SigningKey.generate("621227", "hui", T0))
    with pytest.raises(SignatureError) as unsigned:
        ring.verify("621227", None, None, b"x", T0)
    with pytest.raises(SignatureError) as unknown:
        ring.verify("621227", "other", "AAAA", b"x", T0)
    assert (unsigned.value.code, unknown.value.code) == ("unsigned", "unknown_key")


def test_keys_rotate_with_an_overlap():
    old = SigningKey.generate("621227", "2025", T0, not_after=T0 + timedelta(days=40))
    new = SigningKey.generate("621227", "2026", T0 + timedelta(days=30))
    ring = ring_with(old, new)
    assert ring.signer("621227", T0 + timedelta(days=10)).key_id == "2025"
    assert ring.signer("621227", T0 + timedelta(days=35)).key_id == "2026"  # the newest valid key signs
    message = b"record"
    ring.verify("621227", "2025", old.sign(message), message, T0 + timedelta(days=35))  # overlap: old still valid
    with pytest.raises(SignatureError) as expired:
        ring.verify("621227", "2025", old.sign(message), message, T0 + timedelta(days=41))
    assert expired.value.code == "key_not_valid"


def test_payloads_are_encrypted_at_rest_and_keys_rotate():
    k1, k2 = new_key(), new_key()
    old = PayloadCipher.from_setting(f"k1:{k1}")
    sealed = old.seal('{"name": "张三"}', "m1")
    assert "张三" not in sealed and sealed.startswith("enc:k1:")
    rotated = PayloadCipher.from_setting(f"k2:{k2},k1:{k1}")
    assert rotated.current == "k2"
    assert rotated.open(sealed, "m1") == '{"name": "张三"}'  # old rows still readable
    assert rotated.seal("x", "m2").startswith("enc:k2:")
    with pytest.raises(Exception):
        old.open(sealed, "another-row")  # bound to its message id


def test_the_evidence_chain_detects_any_change():
    entries, previous = [], GENESIS
    for seq, event in enumerate(["accepted", "published", "answered"], start=1):
        entry = {"seq": seq, "at": f"2026-11-0{seq}", "event": event, "message_id": "m1", "county": "621227",
                 "principal": "key:abc", "detail": None, "prev_hash": previous}
        entry["hash"] = previous = entry_hash(previous, entry)
        entries.append(entry)
    assert verify_chain(entries) is None
    forged = [dict(e) for e in entries]
    forged[1]["event"] = "rejected"
    assert verify_chain(forged) == 2
    assert verify_chain([entries[0], entries[2]]) == 3  # a removed entry


def test_api_keys_are_shown_once_and_stored_hashed():
    key_id, key, stored = apikeys.new_key()
    parsed = apikeys.parse(key)
    assert parsed is not None and parsed[0] == key_id
    assert stored != parsed[1] and apikeys.matches(parsed[1], stored)
    assert not apikeys.matches(parsed[1] + "x", stored)
    assert apikeys.parse("Bearer nonsense") is None


@given(st.text(max_size=80))
def test_no_string_parses_into_a_key_it_is_not(text):
    parsed = apikeys.parse(text)
    assert parsed is None or text == f"mpx_{parsed[0]}_{parsed[1]}"


def test_the_role_policy():
    hui = Principal("k1", Role.COUNTY_SYSTEM, counties=frozenset({"621227"}))
    operator = Principal("k2", Role.COUNTY_OPERATOR, counties=frozenset({"621227"}))
    zhejiang = Principal("k3", Role.PROVINCIAL_MONITOR, provinces=frozenset({"33"}))
    assert hui.may(Permission.SEND) and hui.acts_for("621227") and not hui.acts_for("542526")
    assert operator.may(Permission.READ) and not operator.may(Permission.SEND)
    assert zhejiang.oversees("330203") and not zhejiang.oversees("621227") and not zhejiang.may(Permission.READ)


def test_a_jwt_names_a_principal_only_with_the_jurisdiction_its_role_needs():
    from exchange.entrypoints.http.auth import principal_from_claims

    clerk = principal_from_claims({"sub": "hui-clerk", "mpx_role": "county_operator", "mpx_counties": ["621227"]})
    assert clerk == Principal("jwt:hui-clerk", Role.COUNTY_OPERATOR, counties=frozenset({"621227"}))
    zhejiang = principal_from_claims({"sub": "zj", "mpx_role": "provincial_monitor", "mpx_provinces": ["330000", "31"]})
    assert zhejiang is not None and zhejiang.provinces == frozenset({"33", "31"})
    admin = principal_from_claims({"sub": "it", "mpx_role": "admin", "mpx_counties": ["621227"]})
    assert admin is not None and admin.counties == frozenset()  # a claim the role does not use is ignored
    for claims in (
        {"sub": "x", "mpx_role": "county_system", "mpx_counties": "621227"},  # a string, not a list
        {"sub": "x", "mpx_role": "county_system", "mpx_counties": [621227]},
        {"sub": "x", "mpx_role": "county_system", "mpx_counties": []},
        {"sub": "x", "mpx_role": "county_system"},
        {"sub": "x", "mpx_role": "provincial_monitor", "mpx_provinces": "33"},
        {"sub": "x", "mpx_role": "provincial_monitor", "mpx_provinces": ["3"]},
        {"sub": "x", "mpx_role": "provincial_monitor", "mpx_provinces": [{"33": 1}]},
        {"sub": "x", "mpx_role": ["admin"]},
        {"sub": "x", "mpx_role": "root"},
        {"sub": "", "mpx_role": "admin"},
        {"sub": 7, "mpx_role": "admin"},
        {"mpx_role": "admin"},
    ):
        assert principal_from_claims(claims) is None, claims


def test_the_rules_for_a_new_api_key_on_a_node_and_on_a_monitor():
    from exchange.adapters.api_keys import GrantRefused, check_grant
    from exchange.config import Settings

    node = Settings(counties=("621227", "542526"))
    zhejiang = Settings(role="monitor", monitor_scope=("33",))
    grant = check_grant(node, role="county_system", name=" 徽县系统 ", counties=["621227"], days=30, now=T0)
    assert (grant.name, grant.role, grant.counties, grant.expires_at) == (
        "徽县系统", Role.COUNTY_SYSTEM, frozenset({"621227"}), T0 + timedelta(days=30))
    assert check_grant(zhejiang, role="provincial_monitor", name="浙江", provinces=["330000"]).provinces == {"33"}
    assert check_grant(node, role="admin", name="信息中心").role is Role.ADMIN

    def refusal(settings: Settings, **asked) -> list[tuple[str, str]]:
        with pytest.raises(GrantRefused) as refused:
            check_grant(settings, **{"name": "x", **asked})
        assert all(e["message"] and e["message_zh"] for e in refused.value.errors)
        return [(e["field"], e["code"]) for e in refused.value.errors]

    assert refusal(node, role="root") == [("role", "unknown_role")]
    assert refusal(node, role="national_monitor") == [("role", "role_not_here")]
    assert refusal(zhejiang, role="county_system", counties=["621227"]) == [("role", "role_not_here")]
    assert refusal(node, role="county_operator", counties=["330203", "620000", 621227]) == [
        ("counties/0", "county_not_served"), ("counties/1", "not_a_county"), ("counties/2", "not_a_county")]
    assert refusal(node, role="county_system") == [("counties", "missing")]
    assert refusal(zhejiang, role="provincial_monitor", provinces=["62", "3300", "99"]) == [
        ("provinces/0", "province_not_monitored"), ("provinces/1", "not_a_province"), ("provinces/2", "not_a_province")]
    assert refusal(zhejiang, role="national_monitor", provinces=["33"]) == [("provinces", "not_for_this_role")]
    assert refusal(node, role="admin", name="\t") == [("name", "invalid_name")]
    assert refusal(node, role="admin", days=0) == refusal(node, role="admin", days=3651) == [("days", "invalid_days")]
