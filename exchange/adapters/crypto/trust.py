"""Signed records and payloads sealed at rest, where the primitives of exchange.adapters.crypto meet the node.

**Signatures.** Every record a node puts on a records topic (business records,
feedback, delivery receipts, reconciliation records) is signed, as the relay
publishes it, by the key of its sending county valid then: Ed25519 over
``canonical.message_bytes(attributes, data)``, where the attributes are the
CloudEvents attributes exactly as the record's ``ce_*`` headers (and
``content-type``) carry them and the data is the record value as JSON (sealed). The key id
and the signature travel in the Kafka headers ``mpx-key-id`` and
``mpx-signature``, outside the CloudEvents attributes. The receiving node checks
them before it stores anything, with the sending county's public key valid (and
not revoked) when the broker appended the record, and the record's ``ce_time``
within bounds of that append time (`verify`).

**Keys.** A node makes a key pair for each county it serves at its first start
(table ``signing_keys``, the private half sealed with the payload key), and
publishes the public halves on the compacted topic ``<prefix>.keys`` (key
``county:key_id``, value a `KeyRecord`) before its relay publishes anything. Every
node reads that topic from the start into its `KeyRing` and keeps what it learned
in ``county_public_keys`` (revocations too), under the rules of
`key_records.EndorsementRules`. `rotate_signing` (``mpx keys rotate-signing``) adds a
key valid from now and ends the old one after an overlap; a running node picks the
new key up within `RELOAD_SECONDS`, publishes it, then signs with it. A node
publishes only what the keys topic does not carry yet (`reload`).

**Payloads sealed on the wire** (exchange/adapters/crypto/sealing.py): the relay seals each record's data to the
receiving county's newest sealing key and signs the sealed value (`wire`); the receiver checks the signature, then
opens it with its own sealing key (`open_record`). Sealing keys are made, published and learned like signing keys.

**Payloads at rest.** ``messages.payload``, ``outbox.value`` and
``quarantine.value`` are sealed with the current payload key (AES-256-GCM,
`PayloadCipher`) and opened when read; `reseal` re-encrypts everything with the
current key after a rotation.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import Envelope
from contracts.cloudevents import encode_data, envelope_attributes
from exchange.adapters.crypto.canonical import message_bytes
from exchange.adapters.crypto.key_records import (
    DEFAULT_SKEW,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    KeyDirectory,
    KeyRecord,
    KeyRefused,
    Learned,
    endorser_for,
    parse,
)
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.sealing import (
    SealError,
    SealingDirectory,
    SealingKey,
    SealingKeyRecord,
    SealingPublicKey,
    is_sealed,
)
from exchange.adapters.crypto.signing import KeyRing, PublicKey, SignatureError, SigningKey
from exchange.adapters.sql.dialect import insert_ignoring_duplicates, upsert
from exchange.adapters.sql.tables import (
    county_public_keys,
    county_sealing_keys,
    messages,
    outbox,
    quarantine,
    sealing_keys,
    signing_keys,
)
from exchange.domain.clock import utcnow

log = logging.getLogger(__name__)

#: How often a running node looks for signing keys added or changed in its database (a rotation by the CLI).
RELOAD_SECONDS = 30.0
#: How often an HTTP worker looks for keys its background process published.
FOLLOW_SECONDS = 5.0
_KEYS_LOCK = 0x6D70786B  # "mpxk": one replica at a time makes a county's first key


def header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key == name:
            found = value.decode(errors="replace")
    return found


def new_key_id(county: str, now: datetime) -> str:
    return f"{county}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def quarantine_context(topic: str, partition: int, offset: int) -> str:
    """Associated data of a sealed quarantined record: it opens only in its own row."""
    return f"quarantine:{topic}/{partition}/{offset}"


def _private_context(county: str, key_id: str) -> str:
    return f"signing-key:{county}:{key_id}"


def _sealing_context(county: str, key_id: str) -> str:
    return f"sealing-key:{county}:{key_id}"


class ReceiverKeyUnknown(Exception):
    """No sealing key of the receiving county is known yet: its records wait in the outbox (never sent in clear)."""

    def __init__(self, county: str):
        super().__init__(county)
        self.county = county


class Trust:
    """One node's keys (its own signing keys, every county's public keys) and its payload cipher."""

    def __init__(self, engine: AsyncEngine, cipher: PayloadCipher, counties: Sequence[str] = (), *,
                 accept_clear: bool = False, skew: timedelta = DEFAULT_SKEW, max_age: timedelta = timedelta(hours=24),
                 on_sealing_key: Callable[[], None] = lambda: None):
        self.engine = engine
        self.cipher = cipher
        self.counties = tuple(counties)
        #: Migration window: also take records in clear (the released 1.0 binding); closed by default.
        self.accept_clear = accept_clear
        self.ring = KeyRing(skew=skew)
        self.directory = KeyDirectory(self.ring, skew)
        self.skew, self.max_age = skew, max_age
        #: Each key as the keys topic carries it now (read back): what this node need not publish again.
        self.on_topic: dict[tuple[str, str], PublicKey] = {}
        self.sealing = SealingDirectory(self.ring)
        #: Own sealing keys as the keys topic carries them: by whom they are signed there (read back).
        self.sealing_on_topic: dict[tuple[str, str], str] = {}
        self.openers: dict[tuple[str, str], SealingKey] = {}  # this node's own sealing keys
        #: Called when a sealing key of another county is learned (the relay sends what waited for it).
        self.on_sealing_key = on_sealing_key

    # -- records -------------------------------------------------------------------------------------------

    def wire(self, headers: Sequence[tuple[str, bytes]], value: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
        """A record as it goes on a records topic: its data sealed to the receiving county, then signed by its
        sending county (a county this node serves). Raises ReceiverKeyUnknown while the receiver has no key."""
        attributes = envelope_attributes(headers)
        receiver = str(attributes.get("receiverregion"))
        key = self.sealing.current(receiver)
        if key is None:
            raise ReceiverKeyUnknown(receiver)
        sealed = key.seal(value, attributes)
        return self._signed(headers, attributes, sealed), encode_data(sealed)

    def signed_headers(self, headers: Sequence[tuple[str, bytes]], value: bytes) -> list[tuple[str, bytes]]:
        """The headers of a record with the signature of its ce_senderregion (a county this node serves), over its
        attributes and `value` as it goes on the wire."""
        return self._signed(headers, envelope_attributes(headers), orjson.loads(value))

    def _signed(self, headers: Sequence[tuple[str, bytes]], attributes: dict[str, Any], data: dict[str, Any]
                ) -> list[tuple[str, bytes]]:
        """Signed by the sending county's key valid now: records are signed as they are published, and judged at
        the time the broker appends them."""
        key_id, signature = self.ring.sign(attributes["senderregion"], message_bytes(attributes, data), utcnow())
        return [*[(k, v) for k, v in headers if k not in (KEY_ID_HEADER, SIGNATURE_HEADER)],
                (KEY_ID_HEADER, key_id.encode()), (SIGNATURE_HEADER, signature.encode())]

    def open_record(self, headers: Sequence[tuple[str, bytes]], envelope: Envelope, data: dict[str, Any]
                    ) -> dict[str, Any]:
        """The record's data in clear, opened with the receiving county's sealing key (after `verify`). Raises
        SealError: unsealed (in clear, the migration window closed), unknown_sealing_key, unopenable."""
        if not is_sealed(data):
            if self.accept_clear:
                return data
            raise SealError("unsealed", "record data is not sealed to the receiving county")
        key = self.openers.get((envelope.receiverregion, str(data.get("kid"))))
        if key is None:
            raise SealError("unknown_sealing_key", "sealed to a key the receiving county does not hold")
        opened = orjson.loads(key.open(data, envelope_attributes(headers)))
        if not isinstance(opened, dict):
            raise SealError("unopenable", "sealed payload is not a JSON object")
        return opened

    def seal_to_self(self, county: str, value: bytes, context: str) -> bytes:
        """A value kept on a shared topic for this node's own county only (a dead letter), unless already sealed."""
        try:
            if is_sealed(orjson.loads(value)):
                return value
        except (orjson.JSONDecodeError, TypeError):
            pass
        newest = self.sealing.current(county)  # the county's own keys are among those it believes
        return value if newest is None else encode_data(newest.seal(value, {"deadletter": context}))

    def verify(self, headers: Sequence[tuple[str, bytes]], envelope: Envelope, data: dict[str, Any],
               appended_at: datetime | None = None, asked_again: bool = False) -> None:
        """Raise SignatureError (unsigned, unknown_key, key_revoked, key_not_valid, bad_signature,
        time_out_of_bounds) unless the record is signed by its sending county with a key valid when the broker
        appended it (`appended_at`; the receiver's clock if unknown), and its ce_time lies within
        [appended_at - max_age, appended_at + skew]. A record this node asked for again (reconciliation) may have
        been made long before: its ce_time has no lower bound (it is signed again when it is sent again)."""
        at = appended_at or utcnow()
        if envelope.time > at + self.skew:
            raise SignatureError("time_out_of_bounds", "ce_time is later than the broker's append time")
        if not asked_again and envelope.time < at - self.max_age:
            raise SignatureError("time_out_of_bounds", "ce_time is too long before the broker's append time")
        message = message_bytes(envelope_attributes(headers), data)
        self.ring.verify(envelope.senderregion, header(headers, KEY_ID_HEADER), header(headers, SIGNATURE_HEADER),
                         message, at)

    def lacks_key(self, headers: Sequence[tuple[str, bytes]]) -> bool:
        """A signed record whose key this node has not learned (yet)."""
        county, key_id = header(headers, "ce_senderregion"), header(headers, KEY_ID_HEADER)
        return bool(county and key_id) and (county, key_id) not in self.ring.public

    # -- payloads at rest --------------------------------------------------------------------------------------

    def seal_payload(self, payload: str, message_id: str) -> str:
        return self.cipher.seal(payload, message_id)

    def open_payload(self, stored: str, message_id: str) -> str:
        return self.cipher.open(stored, message_id)

    def seal_value(self, value: bytes, context: str) -> bytes:
        return self.cipher.seal_bytes(value, context)

    def open_value(self, stored: bytes, context: str) -> bytes:
        return self.cipher.open_bytes(stored, context)

    # -- keys --------------------------------------------------------------------------------------------------

    async def start(self, *, publishes: bool = True) -> None:
        """Load the public keys this node knows and its own signing keys; make one for a county that has none.
        A process that publishes no keys (an HTTP worker) takes only those `follow` allows."""
        await self._check_payload_keys()  # (without a payload key: warned, or refused, by exchange.production)
        async with self.engine.connect() as conn:
            for row in await conn.execute(select(county_public_keys)):
                self.ring.add_public(PublicKey(row.county, row.key_id, row.public_key, row.not_before, row.not_after))
                if row.revoked_at is not None:
                    self.ring.revoked[(row.county, row.key_id)] = row.revoked_at
            for row in await conn.execute(select(county_sealing_keys)):
                self.sealing.add(SealingPublicKey(row.county, row.key_id, row.public_key, row.not_before))
        now = utcnow()
        await ensure_signing_keys(self.engine, self.cipher, self.counties, now)
        await ensure_sealing_keys(self.engine, self.cipher, self.counties, now)
        if publishes:
            for county, keys in (await load_signing_keys(self.engine, self.cipher, self.counties)).items():
                self._adopt(county, keys)
        else:
            await self.follow()
        for key in await load_sealing_keys(self.engine, self.cipher, self.counties):
            self._adopt_sealing(key)

    def _adopt(self, county: str, keys: list[SigningKey]) -> None:
        self.ring.signing[county] = list(keys)
        for key in keys:
            self.ring.add_public(key.public_key())

    def _adopt_sealing(self, key: SealingKey) -> None:
        self.openers[(key.county, key.key_id)] = key
        self.sealing.add(key.public_key())

    def _sealing_record(self, key: SealingKey) -> SealingKeyRecord:
        """Signed by the county's current signing key (receivers check it at the record's append time)."""
        return SealingKeyRecord.sign(key.public_key(), self.ring.signer(key.county, utcnow()))

    async def reload(self, publish: Callable[[list[KeyRecord]], Awaitable[None]]) -> int:
        """Publish this node's keys the keys topic does not carry yet (as they are now: made, or shortened by a
        rotation), then sign with them; returns how many records were published. Called once the keys topic has
        been read to its end, and every RELOAD_SECONDS after (a rotation by the CLI)."""
        stored = await load_signing_keys(self.engine, self.cipher, self.counties)
        now = utcnow()
        published = 0
        for county, keys in stored.items():
            live = [k for k in keys if (county, k.key_id) not in self.ring.revoked
                    and (k.not_after is None or k.not_after >= now - self.skew)]  # just ended: its end is news
            missing = [k for k in live if self.on_topic.get((county, k.key_id)) != k.public_key()]
            known_county = any(c == county for c, _ in self.on_topic)
            fresh = []
            for key in missing:
                if known_county and (county, key.key_id) not in self.on_topic and key.not_before < now - self.skew / 2:
                    key = await _redate(self.engine, key, now)  # made while the node was away: starts now
                fresh.append(key)
            if fresh:
                live = [next((f for f in fresh if f.key_id == k.key_id), k) for k in live]
                # A key the topic carries already (shortened by a rotation) endorses its own change.
                await publish([KeyRecord.endorse(k.public_key(), k if (county, k.key_id) in self.on_topic
                                                 else endorser_for(k, live)) for k in fresh])
                published += len(fresh)
                log.info("signing keys of %s published: %s", county, ", ".join(k.key_id for k in fresh))
                keys = [next((f for f in fresh if f.key_id == k.key_id), k) for k in keys]
            if [(k.key_id, k.not_before, k.not_after) for k in keys] != \
                    [(k.key_id, k.not_before, k.not_after) for k in self.ring.signing.get(county, [])]:
                self._adopt(county, keys)
                await self.remember([k.public_key() for k in keys])
        published += await self._publish_sealing(publish)
        return published

    async def follow(self) -> bool:
        """An HTTP worker of a node split into processes (MPX_PROCESS_ROLE=http) publishes no keys: it signs with a
        county's stored keys that the keys topic carries (the background process publishes them, then remembers
        them), so that no record it signs reaches a receiver before its key; or with all of them while none is on
        the topic (a first start: the background process publishes them before its relay publishes anything).
        True if it took new keys."""
        stored = await load_signing_keys(self.engine, self.cipher, self.counties)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(county_public_keys))).all()
        published = {(r.county, r.key_id) for r in rows}
        self.ring.revoked.update({(r.county, r.key_id): r.revoked_at for r in rows if r.revoked_at is not None})
        changed = False
        for county, keys in stored.items():
            keys = [k for k in keys if (county, k.key_id) in published] or keys
            if [(k.key_id, k.not_before, k.not_after) for k in keys] != \
                    [(k.key_id, k.not_before, k.not_after) for k in self.ring.signing.get(county, [])]:
                self._adopt(county, keys)
                changed = True
        return changed

    async def follow_forever(self) -> None:
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                if await self.follow():
                    log.info("signing keys taken from the database, as the background process published them")
            except Exception as exc:  # noqa: BLE001 - database away: the next round tries again
                log.warning("reading signing keys failed (%s); keeping the current ones", type(exc).__name__)

    async def _publish_sealing(self, publish: Callable[[list[Any]], Awaitable[None]]) -> int:
        """Sealing keys made by a rotation (adopted, published: counted) and own keys the topic does not carry
        signed by the county's current signing key (published again, e.g. after a signing rotation: not counted)."""
        fresh = [k for k in await load_sealing_keys(self.engine, self.cipher, self.counties)
                 if (k.county, k.key_id) not in self.openers]
        for key in fresh:
            self._adopt_sealing(key)
        if fresh:
            await self.remember_sealing([k.public_key() for k in fresh])
            log.info("sealing keys made: %s", ", ".join(k.key_id for k in fresh))
        now = utcnow()
        signers = {county: self.ring.signer(county, now).key_id for county in {c for c, _ in self.openers}}
        stale = [k for ident, k in self.openers.items() if self.sealing_on_topic.get(ident) != signers[k.county]]
        if stale:
            await publish([self._sealing_record(k) for k in stale])
        return len(fresh)

    async def learn(self, raw: bytes | None, at: datetime) -> Learned:
        """One record of the keys topic, appended at `at`: believe it if the endorsement rules hold; keep what
        changed. Raises KeyRefused (with its reason code) for a record that breaks them."""
        if not raw:
            return Learned([], [])
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None  # parse() refuses it, with its reason
        if isinstance(body, dict) and body.get("kind") == SealingKeyRecord.KIND:
            return await self._learn_sealing(body, at)
        record = parse(raw)
        learned = self.directory.offer(record, at)
        if isinstance(record, KeyRecord) and self.directory.known(record.ident) == record.key:
            ident = (record.key.county, record.key.key_id)
            if record.key.county in self.counties and self.on_topic.get(ident) != record.key:
                await self.remember([record.key])  # own keys as the topic carries them: what HTTP workers follow
            self.on_topic[ident] = record.key
        if learned.keys:
            await self.remember([k for k in learned.keys if k.use == "signing"])
            believed = self.sealing.offer()  # sealing keys that waited for these signing keys
            if believed:
                await self.remember_sealing(believed)
        if learned.revoked:
            await self._remember_revoked(learned.revoked, at)
        return learned

    async def _learn_sealing(self, body: dict[str, Any], at: datetime) -> Learned:
        try:
            record = SealingKeyRecord.from_body(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyRefused("malformed", f"not a sealing key record ({type(exc).__name__})") from None
        believed = self.sealing.offer(record, at)
        if self.sealing.public.get(record.ident) == record.key:
            self.sealing_on_topic[record.ident] = record.signed_by
        if believed:
            await self.remember_sealing(believed)
        return Learned([], [])

    async def _remember_revoked(self, revoked: list[tuple[str, str]], at: datetime) -> None:
        async with self.engine.begin() as conn:
            for county, key_id in revoked:
                await conn.execute(update(county_public_keys).where(
                    county_public_keys.c.county == county, county_public_keys.c.key_id == key_id,
                    county_public_keys.c.revoked_at.is_(None)).values(revoked_at=at))

    async def remember_sealing(self, keys: list[SealingPublicKey]) -> None:
        self.on_sealing_key()
        now = utcnow()
        async with self.engine.begin() as conn:
            for key in keys:
                await conn.execute(insert_ignoring_duplicates(conn, county_sealing_keys, "county", "key_id").values(
                    county=key.county, key_id=key.key_id, public_key=key.public, not_before=key.not_before,
                    learned_at=now))

    async def remember(self, keys: list[PublicKey]) -> None:
        now = utcnow()
        async with self.engine.begin() as conn:
            for key in keys:
                await conn.execute(upsert(conn, county_public_keys, ["county", "key_id"], {
                    "county": key.county, "key_id": key.key_id, "public_key": key.public,
                    "not_before": key.not_before, "not_after": key.not_after, "learned_at": now}))

    async def _check_payload_keys(self) -> None:
        """Refuse to start when stored payloads are sealed with a key the configuration lacks."""
        async with self.engine.connect() as conn:
            newest = await conn.scalar(select(messages.c.payload).order_by(messages.c.seq.desc()).limit(1))
            private = list(await conn.scalars(select(signing_keys.c.private_key)))
            private += list(await conn.scalars(select(sealing_keys.c.private_key)))
        used = {self.cipher.sealed_with(v) for v in [newest, *private] if v is not None} - {None}
        missing = used - set(self.cipher.keys)
        if missing:
            raise RuntimeError(f"stored data is sealed with payload key(s) {', '.join(sorted(missing))} "
                               "that MPX_PAYLOAD_KEYS does not list")


# -- the signing_keys table ----------------------------------------------------------------------------------


async def load_signing_keys(engine: AsyncEngine, cipher: PayloadCipher,
                            counties: Sequence[str] | None = None) -> dict[str, list[SigningKey]]:
    query = select(signing_keys).order_by(signing_keys.c.county, signing_keys.c.not_before)
    if counties is not None:
        query = query.where(signing_keys.c.county.in_(list(counties)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    keys: dict[str, list[SigningKey]] = {}
    for row in rows:
        private = cipher.open(row.private_key, _private_context(row.county, row.key_id))
        keys.setdefault(row.county, []).append(SigningKey(row.county, row.key_id, private, row.not_before,
                                                          row.not_after))
    return keys


def _row(key: SigningKey, cipher: PayloadCipher, now: datetime) -> dict[str, Any]:
    return {"county": key.county, "key_id": key.key_id,
            "private_key": cipher.seal(key.private, _private_context(key.county, key.key_id)),
            "public_key": key.public_key().public, "not_before": key.not_before, "not_after": key.not_after,
            "created_at": now}


async def ensure_signing_keys(engine: AsyncEngine, cipher: PayloadCipher, counties: Sequence[str],
                              now: datetime) -> list[SigningKey]:
    """A key pair for every county that has no key valid now; returns the keys made."""
    made = []
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
        for county in counties:
            rows = (await conn.execute(select(signing_keys.c.not_before, signing_keys.c.not_after)
                                       .where(signing_keys.c.county == county))).all()
            if any(r.not_before <= now and (r.not_after is None or now < r.not_after) for r in rows):
                continue
            key = SigningKey.generate(county, new_key_id(county, now), now)
            await conn.execute(insert_ignoring_duplicates(conn, signing_keys, "county", "key_id")
                               .values(**_row(key, cipher, now)))
            made.append(key)
            log.info("signing key %s made for %s", key.key_id, county)
    return made


async def _redate(engine: AsyncEngine, key: SigningKey, now: datetime) -> SigningKey:
    """A key never published starts when it is published: a key may not start in the past (key_backdated)."""
    async with engine.begin() as conn:
        await conn.execute(update(signing_keys).where(signing_keys.c.county == key.county,
                                                      signing_keys.c.key_id == key.key_id).values(not_before=now))
    return replace(key, not_before=now)


async def rotate_signing(engine: AsyncEngine, cipher: PayloadCipher, county: str, overlap: timedelta,
                         now: datetime | None = None) -> tuple[SigningKey, list[tuple[str, datetime]]]:
    """A new key for `county` valid from now; every older key ends at now + overlap (if it would end later).
    Returns the new key and (key id, new end) of the keys it shortened."""
    now = now or utcnow()
    ends = now + overlap
    key = SigningKey.generate(county, new_key_id(county, now), now)
    shortened = []
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
        for row in (await conn.execute(select(signing_keys.c.key_id, signing_keys.c.not_after)
                                       .where(signing_keys.c.county == county))).all():
            if row.not_after is None or row.not_after > ends:
                await conn.execute(update(signing_keys).where(signing_keys.c.county == county,
                                                              signing_keys.c.key_id == row.key_id)
                                   .values(not_after=ends))
                shortened.append((row.key_id, ends))
        await conn.execute(signing_keys.insert().values(**_row(key, cipher, now)))
    return key, shortened


async def load_sealing_keys(engine: AsyncEngine, cipher: PayloadCipher,
                            counties: Sequence[str] | None = None) -> list[SealingKey]:
    query = select(sealing_keys).order_by(sealing_keys.c.county, sealing_keys.c.not_before)
    if counties is not None:
        query = query.where(sealing_keys.c.county.in_(list(counties)))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [SealingKey(row.county, row.key_id, cipher.open(row.private_key, _sealing_context(row.county, row.key_id)),
                       row.not_before) for row in rows]


async def add_sealing_key(engine: AsyncEngine, cipher: PayloadCipher, county: str, now: datetime | None = None,
                          *, only_if_none: bool = False) -> SealingKey | None:
    """A new sealing key for `county`, newest from now (senders switch to it once they learn it); older keys stay,
    to open records sealed to them that may still arrive. With only_if_none: only for a county that has none."""
    now = now or utcnow()
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})
        if only_if_none and await conn.scalar(select(sealing_keys.c.key_id).where(sealing_keys.c.county == county)
                                              .limit(1)) is not None:
            return None
        key = SealingKey.generate(county, "seal-" + new_key_id(county, now), now)
        await conn.execute(sealing_keys.insert().values(
            county=county, key_id=key.key_id,
            private_key=cipher.seal(key.private, _sealing_context(county, key.key_id)),
            public_key=key.public_key().public, not_before=now, created_at=now))
    log.info("sealing key %s made for %s", key.key_id, county)
    return key


async def ensure_sealing_keys(engine: AsyncEngine, cipher: PayloadCipher, counties: Sequence[str],
                              now: datetime) -> None:
    for county in counties:
        await add_sealing_key(engine, cipher, county, now, only_if_none=True)


# -- re-encryption ---------------------------------------------------------------------------------------------


async def reseal(engine: AsyncEngine, cipher: PayloadCipher, batch: int = 500) -> dict[str, int]:
    """Re-encrypt every sealed column with the current payload key (and seal what is in clear).
    Safe while the node runs, as long as the old key stays configured until this returns."""
    if cipher.current is None:
        raise ValueError("no payload key configured (MPX_PAYLOAD_KEYS)")
    counts = {"messages": 0, "outbox": 0, "quarantine": 0, "signing_keys": 0, "sealing_keys": 0}

    async def sweep(table, order, columns, column: str, context, opener, sealer) -> int:  # noqa: ANN001
        done, last = 0, None
        while True:
            query = select(*columns).order_by(order).limit(batch)
            if last is not None:
                query = query.where(order > last)
            async with engine.begin() as conn:
                rows = (await conn.execute(query)).all()
                for row in rows:
                    stored = getattr(row, column)
                    if stored is None or not cipher.needs_reseal(stored):
                        continue
                    where = [c == getattr(row, c.name) for c in columns if c.primary_key]
                    fresh = sealer(opener(stored, context(row)), context(row))
                    await conn.execute(update(table).where(*where).values({column: fresh}))
                    done += 1
            if len(rows) < batch:
                return done
            last = getattr(rows[-1], order.name)

    counts["messages"] = await sweep(messages, messages.c.seq, [messages.c.seq, messages.c.id, messages.c.payload],
                                     "payload", lambda r: r.id, cipher.open, cipher.seal)
    counts["outbox"] = await sweep(outbox, outbox.c.seq, [outbox.c.seq, outbox.c.message_id, outbox.c.value],
                                   "value", lambda r: r.message_id, cipher.open_bytes, cipher.seal_bytes)
    counts["quarantine"] = await sweep(
        quarantine, quarantine.c.seq,
        [quarantine.c.seq, quarantine.c.topic, quarantine.c.partition, quarantine.c.offset, quarantine.c.value],
        "value", lambda r: quarantine_context(r.topic, r.partition, r.offset), cipher.open_bytes, cipher.seal_bytes)
    async with engine.begin() as conn:
        for table, context_of in ((signing_keys, _private_context), (sealing_keys, _sealing_context)):
            for row in (await conn.execute(select(table.c.county, table.c.key_id, table.c.private_key))).all():
                if cipher.needs_reseal(row.private_key):
                    context = context_of(row.county, row.key_id)
                    await conn.execute(update(table).where(table.c.county == row.county, table.c.key_id == row.key_id)
                                       .values(private_key=cipher.seal(cipher.open(row.private_key, context), context)))
                    counts[table.name] += 1
    return counts
