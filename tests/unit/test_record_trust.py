"""Key records on the keys topic (which keys a node believes), record signatures over the Kafka headers, sealed
bytes, and the signing-key table: on their own, without a broker."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from contracts import MessageType
from exchange.adapters.crypto.key_records import KeyDirectory, KeyRecord, KeyRefused, endorser_for, parse
from exchange.adapters.crypto.payload_crypto import PayloadCipher, PayloadKeyMissing, new_key
from exchange.adapters.crypto.sealing import SealError, SealingDirectory, SealingKey, SealingKeyRecord
from exchange.adapters.crypto.signing import KeyRing, SignatureError, SigningKey
from exchange.adapters.crypto.trust import ReceiverKeyUnknown, Trust, load_signing_keys, rotate_signing
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.sql.tables import signing_keys
from exchange.adapters.unit_of_work import Outbox
from exchange.domain.message import Outgoing, new_envelope

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HUI, HAISHU = "621227", "330203"


def rotated() -> tuple[SigningKey, SigningKey, list[KeyRecord]]:
    """Hui's first key, and the one it was rotated to (old key ends after 7 days), as the node publishes them."""
    old = SigningKey.generate(HUI, "k1", T0, not_after=T0 + timedelta(days=37))
    new = SigningKey.generate(HUI, "k2", T0 + timedelta(days=30))
    keys = [old, new]
    return old, new, [KeyRecord.endorse(k.public_key(), endorser_for(k, keys)) for k in keys]


def test_the_first_key_endorses_itself_and_a_rotated_key_is_endorsed_by_the_old_one():
    old, new, records = rotated()
    assert [r.endorsed_by for r in records] == ["k1", "k1"]
    directory = KeyDirectory(KeyRing())
    assert [k.key_id for r in records for k in directory.offer(parse(r.to_bytes()), r.key.not_before).keys] == [
        "k1", "k2"]


def test_key_records_are_believed_in_any_order():
    """Compaction keeps the old key's latest record (its new end) after the new key's."""
    _, _, records = rotated()
    directory = KeyDirectory(KeyRing())
    assert directory.offer(records[1], T0 + timedelta(days=30)).keys == []  # its endorser is not known yet: it waits
    accepted = directory.offer(records[0], T0).keys
    assert {k.key_id for k in accepted} == {"k1", "k2"} and not directory.pending


def test_a_key_slipped_in_for_a_known_county_is_not_believed():
    _, _, records = rotated()
    ring = KeyRing()
    directory = KeyDirectory(ring)
    for record in records:
        directory.offer(record, record.key.not_before)
    at = T0 + timedelta(days=31)
    intruder = SigningKey.generate(HUI, "k9", at)
    with pytest.raises(KeyRefused, match="endorsed"):  # self-endorsed: refused
        directory.offer(KeyRecord.endorse(intruder.public_key(), intruder), at)
    same_id = SigningKey.generate(HUI, "k2", at)
    with pytest.raises(KeyRefused, match="another key"):  # a known id, another key
        directory.offer(KeyRecord.endorse(same_id.public_key(), same_id), at)
    forged = KeyRecord(intruder.public_key(), "k2", records[1].endorsement)  # someone else's endorsement
    with pytest.raises(KeyRefused, match="does not verify"):
        directory.offer(forged, at)
    assert set(ring.public) == {(HUI, "k1"), (HUI, "k2")}


def test_the_holder_of_a_key_may_shorten_it():
    old, new, records = rotated()
    directory = KeyDirectory(KeyRing())
    for record in records:
        directory.offer(record, record.key.not_before)
    ended = SigningKey(HUI, "k1", old.private, old.not_before, T0 + timedelta(days=31))
    [updated] = directory.offer(KeyRecord.endorse(ended.public_key(), new), T0 + timedelta(days=30, hours=1)).keys
    assert updated.not_after == T0 + timedelta(days=31)


def test_sealed_bytes_open_only_in_their_row_and_with_a_configured_key():
    k1, k2 = new_key(), new_key()
    cipher = PayloadCipher.from_setting(f"k1:{k1}")
    sealed = cipher.seal_bytes("张三 110101199003070011".encode(), "outbox-1")
    assert sealed.startswith(b"enc:k1:") and "张三".encode() not in sealed and b"110101" not in sealed
    assert cipher.open_bytes(sealed, "outbox-1").decode() == "张三 110101199003070011"
    assert cipher.open_bytes(b'{"clear": 1}', "x") == b'{"clear": 1}'  # stored before a key was configured
    with pytest.raises(Exception):
        cipher.open_bytes(sealed, "outbox-2")
    with pytest.raises(PayloadKeyMissing):
        PayloadCipher.from_setting(f"k2:{k2}").open_bytes(sealed, "outbox-1")
    rotated_cipher = PayloadCipher.from_setting(f"k2:{k2},k1:{k1}")
    assert rotated_cipher.needs_reseal(sealed) and not rotated_cipher.needs_reseal(rotated_cipher.seal("x", "m"))
    assert PayloadCipher.from_setting("").needs_reseal(b"anything") is False


def _record(trust_: Trust, sender: str = HUI) -> tuple[list[tuple[str, bytes]], bytes, object, dict]:
    """A delivery receipt as the sending node's relay puts it on the wire: sealed to 330203, signed by `sender`."""
    import orjson

    envelope = new_envelope(message_type=MessageType.DELIVERY_RECEIPT, schema_version="1.0", sender=sender,
                            receiver=HAISHU, now=datetime.now(UTC), message_id="m-1", in_reply_to="m-0")
    data = {"received_at": "2026-11-02T02:00:00+00:00", "receiver_node_id": "n"}
    row = Outbox(TopicScheme("t", 8), trust_, "n").message(Outgoing(envelope, data, ""), datetime.now(UTC))
    headers = [(k, v.encode()) for k, v in orjson.loads(row["headers"])]
    assert "mpx-key-id" not in dict(headers)  # signed when it is published, not when it is stored
    headers, value = trust_.wire(headers, trust_.open_value(row["value"], "m-1"))
    return headers, value, envelope, orjson.loads(value)


def _pair(tmp_path) -> tuple[Trust, Trust, SigningKey]:  # noqa: ANN001
    """Hui's node (signing key k1) and Haishu's (sealing key s1), each knowing the other's public key."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    sender, receiver = Trust(engine, PayloadCipher.from_setting("")), Trust(engine, PayloadCipher.from_setting(""))
    key = SigningKey.generate(HUI, "k1", T0)
    sender.ring.add_signing(key)
    receiver.ring.add_public(key.public_key())
    sealing = SealingKey.generate(HAISHU, "s1", T0)
    receiver.openers[(HAISHU, "s1")] = sealing
    sender.sealing.add(sealing.public_key())
    return sender, receiver, key


def test_a_record_is_sealed_to_the_receiver_and_signed_over_what_travels(tmp_path):
    sender, receiver, _ = _pair(tmp_path)
    headers, value, envelope, wire_data = _record(sender)
    assert dict(headers)["mpx-key-id"] == b"k1" and b"mpx-signature" not in value
    assert set(wire_data) == {"mpx_sealed", "alg", "kid", "ct"} and b"receiver_node_id" not in value
    receiver.verify(headers, envelope, wire_data)
    assert receiver.open_record(headers, envelope, wire_data) == {"received_at": "2026-11-02T02:00:00+00:00",
                                                                  "receiver_node_id": "n"}
    changed = [(k, b"m-2" if k == "ce_id" else v) for k, v in headers]
    with pytest.raises(SignatureError) as altered:
        receiver.verify(changed, envelope, wire_data)
    with pytest.raises(SignatureError) as unsigned:
        receiver.verify([h for h in headers if not h[0].startswith("mpx-")], envelope, wire_data)
    assert (altered.value.code, unsigned.value.code) == ("bad_signature", "unsigned")
    assert receiver.lacks_key([("ce_senderregion", b"542526"), ("mpx-key-id", b"k1")])


def test_a_sealed_payload_opens_only_in_its_own_record_and_only_for_its_receiver(tmp_path):
    sender, receiver, _ = _pair(tmp_path)
    headers, _, envelope, wire_data = _record(sender)
    # The same ciphertext under another id (re-signed by a county that copied it): the attributes are bound in.
    moved = [(k, b"m-2" if k == "ce_id" else v) for k, v in headers]
    with pytest.raises(SealError) as elsewhere:
        receiver.open_record(moved, envelope, wire_data)
    other = Trust(receiver.engine, receiver.cipher)
    other.openers[(HAISHU, "s9")] = SealingKey.generate(HAISHU, "s9", T0)
    with pytest.raises(SealError) as not_held:
        other.open_record(headers, envelope, wire_data)
    with pytest.raises(SealError) as clear:
        receiver.open_record(headers, envelope, {"received_at": "2026-11-02T02:00:00+00:00"})
    assert (elsewhere.value.code, not_held.value.code, clear.value.code) == (
        "unopenable", "unknown_sealing_key", "unsealed")
    receiver.accept_clear = True  # the migration window, opened by the operator
    assert receiver.open_record(headers, envelope, {"a": 1}) == {"a": 1}


def test_records_to_a_county_without_a_known_sealing_key_are_not_sent(tmp_path):
    sender, _, _ = _pair(tmp_path)
    sender.sealing.public.clear()
    with pytest.raises(ReceiverKeyUnknown):
        _record(sender)


def test_a_sealing_key_is_believed_only_when_signed_by_a_signing_key_of_its_county():
    ring = KeyRing()
    hui_key = SigningKey.generate(HUI, "k1", T0)
    sealing = SealingKey.generate(HUI, "s1", T0 + timedelta(days=1)).public_key()
    genuine = SealingKeyRecord.sign(sealing, hui_key)
    intruder = SigningKey.generate(HAISHU, "h1", T0)
    ring.add_public(intruder.public_key())
    forged = SealingKeyRecord(sealing, "h1", intruder.sign(b"anything"))
    directory = SealingDirectory(ring)
    at = T0 + timedelta(days=1)  # when the broker appended the records
    assert directory.offer(SealingKeyRecord.from_body(orjson.loads(forged.to_bytes())), at) == []
    assert directory.offer(genuine, at) == []  # waits for the signing key it names
    ring.add_public(hui_key.public_key())
    assert directory.offer() == [sealing] and directory.current(HUI) == sealing
    rebound = SealingKeyRecord.sign(SealingKey.generate(HUI, "s1", T0 + timedelta(days=2)).public_key(), hui_key)
    assert directory.offer(rebound, at) == [] and directory.current(HUI) == sealing  # a key id is never rebound
    ring.revoked[(HUI, "k1")] = at  # a revoked signing key vouches for no new sealing key
    later = SealingKeyRecord.sign(SealingKey.generate(HUI, "s2", at).public_key(), hui_key)
    assert directory.offer(later, at) == [] and directory.current(HUI) == sealing


async def test_rotation_ends_the_old_key_after_the_overlap_and_private_keys_are_sealed(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    engine = create_engine(url)
    cipher = PayloadCipher.from_setting(f"k1:{new_key()}")
    node = Trust(engine, cipher, [HUI])
    await node.start()
    [first] = node.ring.signing[HUI]
    now = datetime.now(UTC)
    new, shortened = await rotate_signing(engine, cipher, HUI, timedelta(days=7), now)
    assert shortened == [(first.key_id, now + timedelta(days=7))]
    published = []

    async def publish(records):  # noqa: ANN001
        published.extend(records)

    assert await node.reload(publish) == 2  # the new key, and the old one's new end
    assert {(r.key.key_id, r.endorsed_by) for r in published if isinstance(r, KeyRecord)} == {(first.key_id, first.key_id),
                                                                   (new.key_id, first.key_id)}
    assert node.ring.signer(HUI, now + timedelta(seconds=1)).key_id == new.key_id
    async with engine.connect() as conn:
        stored = list(await conn.scalars(select(signing_keys.c.private_key)))
    assert all(s.startswith("enc:k1:") for s in stored)
    assert {k.private for k in (await load_signing_keys(engine, cipher))[HUI]} == {first.private, new.private}
    await engine.dispose()
