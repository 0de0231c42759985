"""Attacks on the signing-key lifecycle, by someone holding a county's stolen or retired private key, or writing
to the keys topic; each must be refused while the county's genuine keys and records keep working."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import MessageType
from contracts.cloudevents import envelope_attributes, to_headers
from exchange.adapters.crypto.canonical import message_bytes
from exchange.adapters.crypto.key_records import KeyDirectory, KeyRecord, KeyRefused, KeyRevocation, endorser_for
from exchange.adapters.crypto.signing import KeyRing, SignatureError, SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.domain.message import new_envelope

HUI, HAISHU = "621227", "330203"
NOW = datetime.now(UTC).replace(microsecond=0)


STOLEN: dict[str, SigningKey] = {}


def hui_after_rotation() -> tuple[KeyDirectory, SigningKey, SigningKey]:
    """Hui County's first key k1 (made 60 days ago), rotated 30 days ago to k2 with a 7-day overlap: k1 is retired."""
    k1 = SigningKey.generate(HUI, "k1", NOW - timedelta(days=60), not_after=NOW - timedelta(days=23))
    k2 = SigningKey.generate(HUI, "k2", NOW - timedelta(days=30))
    STOLEN.update(k1=k1, k2=k2)
    directory = KeyDirectory(KeyRing())
    for key in (k1, k2):  # each published when it was made
        directory.offer(KeyRecord.endorse(key.public_key(), endorser_for(key, [k1, k2])), key.not_before)
    assert set(directory.ring.public) == {(HUI, "k1"), (HUI, "k2")}
    return directory, k1, k2


def test_a_stolen_retired_key_cannot_re_endorse_itself_with_a_later_end():
    directory, k1, _ = hui_after_rotation()
    revived = SigningKey(HUI, "k1", k1.private, k1.not_before, None)  # valid for ever
    with pytest.raises(KeyRefused, match="shortened"):
        directory.offer(KeyRecord.endorse(revived.public_key(), revived), NOW)
    assert directory.ring.public[(HUI, "k1")].not_after == k1.not_after


def test_a_stolen_retired_key_cannot_mint_a_back_dated_key():
    directory, k1, _ = hui_after_rotation()
    minted = SigningKey.generate(HUI, "k3", NOW - timedelta(days=40))  # starts while k1 was still valid
    with pytest.raises(KeyRefused):
        directory.offer(KeyRecord.endorse(minted.public_key(), k1), NOW)
    assert (HUI, "k3") not in directory.ring.public
    # Nor can the county's current key (stolen in turn): a new key may not start before it is published.
    k2 = directory.ring.public[(HUI, "k2")]
    with pytest.raises(KeyRefused, match="before it is published"):
        directory.offer(KeyRecord.endorse(minted.public_key(), _private(k2)), NOW)


def test_a_stolen_retired_key_cannot_shorten_the_countys_new_key():
    directory, k1, k2 = hui_after_rotation()
    cut = SigningKey(HUI, "k2", k2.private, k2.not_before, k2.not_before)
    with pytest.raises(KeyRefused, match="not valid now"):
        directory.offer(KeyRecord.endorse(cut.public_key(), k1), NOW)
    assert directory.ring.public[(HUI, "k2")].not_after is None
    # Even while the old key is still in its overlap, it may not cut its successor short.
    overlap = NOW - timedelta(days=29)
    with pytest.raises(KeyRefused, match="newer key"):
        directory.offer(KeyRecord.endorse(cut.public_key(), k1), overlap)
    # The genuine county still may: its current key ends itself.
    ended = SigningKey(HUI, "k2", k2.private, k2.not_before, NOW + timedelta(days=1))
    assert directory.offer(KeyRecord.endorse(ended.public_key(), k2), NOW).keys[0].not_after == ended.not_after


def _signed_record(key: SigningKey, time: datetime):  # noqa: ANN202
    envelope = new_envelope(message_type=MessageType.DELIVERY_RECEIPT, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=time, message_id="m-1", in_reply_to="m-0")
    data = {"received_at": time.isoformat(), "receiver_node_id": "n"}
    headers = to_headers(envelope)
    headers += [("mpx-key-id", key.key_id.encode()),
                ("mpx-signature", key.sign(message_bytes(envelope_attributes(headers), data)).encode())]
    return headers, envelope, data


def _receiver(directory: KeyDirectory) -> Trust:
    receiver = Trust(None, None)  # type: ignore[arg-type]
    receiver.ring = directory.ring
    return receiver


def test_a_record_back_dated_into_a_retired_keys_validity_is_refused():
    directory, k1, k2 = hui_after_rotation()
    receiver = _receiver(directory)
    headers, envelope, data = _signed_record(k1, NOW - timedelta(days=25))  # ce_time while k1 was valid
    with pytest.raises(SignatureError) as back_dated:
        receiver.verify(headers, envelope, data, appended_at=NOW)
    headers, envelope, data = _signed_record(k1, NOW - timedelta(hours=1))  # within the age bound: k1 checked now
    with pytest.raises(SignatureError) as retired:
        receiver.verify(headers, envelope, data, appended_at=NOW)
    headers, envelope, data = _signed_record(k2, NOW + timedelta(hours=1))  # dated ahead of the broker
    with pytest.raises(SignatureError) as ahead:
        receiver.verify(headers, envelope, data, appended_at=NOW)
    assert (back_dated.value.code, retired.value.code, ahead.value.code) == (
        "time_out_of_bounds", "key_not_valid", "time_out_of_bounds")
    headers, envelope, data = _signed_record(k2, NOW - timedelta(seconds=3))  # genuine: verifies
    receiver.verify(headers, envelope, data, appended_at=NOW)
    # A record this node asked for again (reconciliation) keeps its original time, and is signed again as it is
    # sent again: by the key valid then.
    headers, envelope, data = _signed_record(k2, NOW - timedelta(days=25))
    receiver.verify(headers, envelope, data, appended_at=NOW, asked_again=True)
    headers, envelope, data = _signed_record(k1, NOW - timedelta(days=25))
    with pytest.raises(SignatureError):
        receiver.verify(headers, envelope, data, appended_at=NOW, asked_again=True)


def _private(public) -> SigningKey:  # noqa: ANN001 - the stolen private half, in this test's hands
    return STOLEN[public.key_id]


def test_a_revoked_key_signs_nothing_from_then_on_and_only_its_county_can_revoke_it():
    directory, k1, k2 = hui_after_rotation()
    receiver = _receiver(directory)
    headers, envelope, data = _signed_record(k2, NOW - timedelta(minutes=10))  # signed before the revocation
    receiver.verify(headers, envelope, data, appended_at=NOW - timedelta(minutes=9))
    k3 = SigningKey.generate(HUI, "k3", NOW)
    directory.offer(KeyRecord.endorse(k3.public_key(), k2), NOW)  # the county rotates away from its stolen k2
    gerze = SigningKey.generate("542526", "g1", NOW - timedelta(days=1))
    directory.offer(KeyRecord.endorse(gerze.public_key(), gerze), NOW - timedelta(days=1))
    with pytest.raises(ValueError):  # another county's key cannot even make one
        KeyRevocation.sign(HUI, "k3", NOW, gerze)
    with pytest.raises(KeyRefused, match="newer key"):  # the thief's k2 cannot revoke the county's new k3
        directory.offer(KeyRevocation.sign(HUI, "k3", NOW, k2), NOW)
    assert directory.offer(KeyRevocation.sign(HUI, "k2", NOW, k3), NOW).revoked == [(HUI, "k2")]
    with pytest.raises(SignatureError) as revoked:  # whatever its ce_time
        receiver.verify(headers, envelope, data, appended_at=NOW - timedelta(minutes=9))
    assert revoked.value.code == "key_revoked"
    headers, envelope, data = _signed_record(k3, NOW)
    receiver.verify(headers, envelope, data, appended_at=NOW)  # the county's new key signs on
    # A thief revoking the stolen key itself does no harm; revoking twice changes nothing.
    assert directory.offer(KeyRevocation.sign(HUI, "k2", NOW, k2), NOW).revoked == []


def _signs_with_another_key(node, key_id: str) -> bool:  # noqa: ANN001
    from exchange.domain.clock import utcnow

    try:
        return node.node.trust.ring.signer(HUI, utcnow()).key_id != key_id
    except SignatureError:  # between learning the revocation and adopting the new key (milliseconds)
        return False


@pytest.mark.integration
async def test_a_stolen_key_revoked_with_the_cli_signs_nothing_more_on_any_node(federation):  # noqa: ANN001
    import asyncio

    from typer.testing import CliRunner

    from exchange.domain.clock import utcnow
    from exchange.entrypoints.cli import app as mpx
    from tests.integration.conftest import eventually
    from tests.integration.test_round_trip import message
    from tests.integration.test_trust import behind, forged, produce, quarantined

    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    await behind(federation, hui, haishu, 1)
    stolen = hui.node.trust.ring.signer(HUI, utcnow())
    env = {"DATABASE_URL": hui.settings.database_url, "MPX_COUNTIES": HUI,
           "MPX_PAYLOAD_KEYS": hui.settings.payload_keys.get_secret_value(),
           "KAFKA_BOOTSTRAP_SERVERS": federation.bootstrap, "MPX_TOPIC_PREFIX": federation.prefix}
    revoked = await asyncio.to_thread(CliRunner().invoke, mpx, ["keys", "revoke-signing", "--county", HUI,
                                                                "--key-id", stolen.key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    for node in (hui, haishu):  # every node honours it as soon as it reads it
        await eventually(lambda n=node: (HUI, stolen.key_id) in n.node.trust.ring.revoked, what="the revocation")
    await eventually(lambda: _signs_with_another_key(hui, stolen.key_id), what="Hui signing with its new key")

    # The thief signs records with the stolen key after its revocation.
    topic, partition = haishu.node.topics.address(HAISHU)
    attempts = [forged(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, seed)["data"], key=stolen)
                for seed in (2, 3)]
    for headers, value in attempts:
        await produce(federation.bootstrap, topic, partition, HAISHU, value, headers)
    genuine = await behind(federation, hui, haishu, 4)  # the county's genuine records still arrive
    ids = [dict(h)["ce_id"].decode() for h, _ in attempts]
    assert await quarantined(haishu) == [("key_revoked", i) for i in ids]
    assert genuine in [item["id"] for item in await haishu.client.inbox_all()]
