"""Attacks on the signing-key lifecycle, by someone holding a county's stolen or retired private key, or writing
to the keys topic; each must be refused while the county's genuine keys and records keep working."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts import MessageType
from exchange.envelopes import new_envelope
from exchange.security.canonical import message_bytes
from exchange.security.key_records import KeyDirectory, KeyRecord, endorser_for
from exchange.security.signing import KeyRing, SignatureError, SigningKey
from exchange.transport.cloudevents import envelope_attributes, to_headers
from exchange.trust import Trust

HUI, HAISHU = "621227", "330203"
NOW = datetime.now(UTC).replace(microsecond=0)


def hui_after_rotation() -> tuple[KeyDirectory, SigningKey, SigningKey]:
    """Hui County's first key k1 (made 60 days ago), rotated 30 days ago to k2 with a 7-day overlap: k1 is retired."""
    k1 = SigningKey.generate(HUI, "k1", NOW - timedelta(days=60), not_after=NOW - timedelta(days=23))
    k2 = SigningKey.generate(HUI, "k2", NOW - timedelta(days=30))
    directory = KeyDirectory(KeyRing())
    for key in (k1, k2):
        directory.offer(KeyRecord.endorse(key.public_key(), endorser_for(key, [k1, k2])))
    assert set(directory.ring.public) == {(HUI, "k1"), (HUI, "k2")}
    return directory, k1, k2


def test_a_stolen_retired_key_cannot_re_endorse_itself_with_a_later_end():
    directory, k1, _ = hui_after_rotation()
    revived = SigningKey(HUI, "k1", k1.private, k1.not_before, None)  # valid for ever
    directory.offer(KeyRecord.endorse(revived.public_key(), revived))
    assert directory.ring.public[(HUI, "k1")].not_after == k1.not_after


def test_a_stolen_retired_key_cannot_mint_a_back_dated_key():
    directory, k1, _ = hui_after_rotation()
    minted = SigningKey.generate(HUI, "k3", NOW - timedelta(days=40))  # starts while k1 was still valid
    directory.offer(KeyRecord.endorse(minted.public_key(), k1))
    assert (HUI, "k3") not in directory.ring.public


def test_a_stolen_retired_key_cannot_shorten_the_countys_new_key():
    directory, k1, k2 = hui_after_rotation()
    cut = SigningKey(HUI, "k2", k2.private, k2.not_before, k2.not_before)
    directory.offer(KeyRecord.endorse(cut.public_key(), k1))
    assert directory.ring.public[(HUI, "k2")].not_after is None


def _signed_record(key: SigningKey, time: datetime):  # noqa: ANN202
    envelope = new_envelope(message_type=MessageType.DELIVERY_RECEIPT, schema_version="1.0", sender=HUI,
                            receiver=HAISHU, now=time, message_id="m-1", in_reply_to="m-0")
    data = {"received_at": time.isoformat(), "receiver_node_id": "n"}
    headers = to_headers(envelope)
    headers += [("mpx-key-id", key.key_id.encode()),
                ("mpx-signature", key.sign(message_bytes(envelope_attributes(headers), data)).encode())]
    return headers, envelope, data


def test_a_record_back_dated_into_a_retired_keys_validity_is_refused(tmp_path):
    directory, k1, _ = hui_after_rotation()
    receiver = Trust(None, None)  # type: ignore[arg-type]
    receiver.ring = directory.ring
    headers, envelope, data = _signed_record(k1, NOW - timedelta(days=25))  # ce_time while k1 was valid
    with pytest.raises(SignatureError):
        receiver.verify(headers, envelope, data)
