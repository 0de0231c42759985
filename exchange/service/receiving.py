"""Storing what arrives from Kafka: deduplicate, record, acknowledge, in one transaction per batch."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import (
    RECEIPT_TYPES,
    RECORD_TYPES,
    REPLY_TYPES,
    REQUEST_TYPES,
    SENDER_REPLY_TYPES,
    ContractError,
    Envelope,
    MessageType,
    validate_payload,
)
from contracts.cloudevents import from_record
from exchange.adapters.crypto import evidence
from exchange.adapters.crypto.sealing import SealError
from exchange.adapters.crypto.signing import SignatureError
from exchange.adapters.crypto.trust import Trust, quarantine_context
from exchange.adapters.metrics import Metrics
from exchange.adapters.sql.dialect import insert_ignoring_duplicates, upsert
from exchange.adapters.sql.progress import Sent, advance_sent, chunks, received_among, replied_to, sent_among
from exchange.adapters.sql.tables import consumer_offsets, inbox, messages, quarantine, reconciliation
from exchange.config import Settings
from exchange.domain.clock import utcnow
from exchange.domain.delivery import DeliveryState, Direction
from exchange.domain.events import CountyNotice, MessageSent, Noted, RecordSetAside
from exchange.domain.message import Outgoing, Record, receipts_for
from exchange.domain.roster import RESIDENCE
from exchange.domain.verification import ANSWERED
from exchange.service.obligations import Obligations
from exchange.service.roster import Rosters, resolve_returns
from exchange.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class Rejected(Exception):
    def __init__(self, code: str, reason: str, message_id: str | None = None):
        super().__init__(code)
        self.code, self.reason, self.message_id = code, reason, message_id


class KeysNotCurrent(Exception):
    """A record is signed with a key this node does not know, and the keys topic could not be read to its end:
    nothing is stored, the consumer reads the batch again after a pause."""


#: Control records handled by the reconciler (Inbound's `control`), never stored as messages.
RECONCILIATION_TYPES = frozenset({MessageType.RECONCILIATION_DIGEST, MessageType.RESEND_REQUEST})


class Control(Protocol):
    """Receives reconciliation digests and resend requests (exchange.service.reconciliation.Reconciler)."""

    async def receive(self, uow: UnitOfWork, record: Record, envelope: Envelope, data: dict[str, Any],
                      now: datetime) -> None: ...


class Inbound:
    """The receiving side of a node."""

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, obligations: Obligations, trust: Trust,
                 control: Control, refresh_keys: Callable[[], Awaitable[bool]], metrics: Metrics, rosters: Rosters):
        self.settings = settings
        self.uow = uow
        self.obligations = obligations
        #: Answers a roster on receipt, keeps the discrepancies of an answer (定期清查).
        self.rosters = rosters
        #: Verifies the sending county's signature, opens sealed payloads and seals them at rest.
        self.trust = trust
        self.control = control
        #: Awaited before a batch with a record signed by a key not known yet: reads the keys topic to its end;
        #: False if it could not (exchange.adapters.kafka.key_feed.KeyFeed.catch_up).
        self.refresh_keys = refresh_keys
        #: Counts what is stored, dropped and quarantined, once its transaction commits.
        self.metrics = metrics

    async def store(self, records: Sequence[Record]) -> tuple[dict[tuple[str, int], int], int]:
        """Process a batch; returns next offsets per partition (commit them after this returns) and outbox rows added.

        Records are stored a statement per table for the whole batch, not per record: on a database a network
        round trip away, per-record statements were the receiver's largest cost."""
        await self._await_keys(records)
        now = utcnow()
        positions: dict[tuple[str, int], int] = {}
        pending: list[tuple[Record, Envelope, dict[str, Any]]] = []  # decoded, stored together
        stored: list[Envelope] = []  # acknowledged together at the end: a receipt per sending county
        async with self.uow() as uow:
            conn = uow.conn
            asked = await self._asked_again(conn, records)
            for record in records:
                positions[(record.topic, record.partition)] = record.offset + 1
                if record.key not in self.settings.served:
                    continue  # another county hashed to the same partition
                try:
                    envelope, data = self._decode(record, asked)
                except Rejected as rejected:
                    await self._quarantine(uow, record, rejected, now)
                    uow.record(_rejected_entry(record, rejected))
                    continue
                uow.record(Noted("received", envelope.id, envelope.receiverregion, f"county:{envelope.senderregion}",
                                 {"type": envelope.message_type.value,
                                  "verified_with": _header(record, "mpx-key-id")}))
                if envelope.message_type in RECONCILIATION_TYPES:
                    # A digest compares with what is stored: what came before it is stored first.
                    stored += await self._apply(uow, pending, now)
                    pending = []
                    await self.control.receive(uow, record, envelope, data, now)
                    continue
                pending.append((record, envelope, data))
            stored += await self._apply(uow, pending, now)
            await self._acknowledge(uow, stored, now)
            for (topic, partition), next_offset in positions.items():
                await conn.execute(
                    upsert(conn, consumer_offsets, ["topic", "partition"],
                           {"topic": topic, "partition": partition, "next_offset": next_offset})
                )
        return positions, uow.published

    async def _asked_again(self, conn: AsyncConnection, records: Sequence[Record]) -> frozenset[str]:
        """Ids of records appended long after their ce_time that this node asked for again (a digest showed them
        missing): their ce_time has no age bound (they are signed again when sent again)."""
        asked = set()
        for record in records:
            message_id, sent, sender = (_header(record, n) for n in ("ce_id", "ce_time", "ce_senderregion"))
            try:
                late = sent and (record.appended_at or utcnow()) - datetime.fromisoformat(sent) > timedelta(minutes=5)
            except (ValueError, TypeError):
                continue
            if late and message_id and await conn.scalar(select(reconciliation.c.seq).where(
                    reconciliation.c.kind == "digest_checked", reconciliation.c.peer == sender,
                    reconciliation.c.county == record.key,
                    reconciliation.c.missing_ids.contains(f'"{message_id}"', autoescape=True)).limit(1)):
                asked.add(message_id)
        return frozenset(asked)

    def _decode(self, record: Record, asked: frozenset[str] = frozenset()) -> tuple[Envelope, dict[str, Any]]:
        try:
            envelope, data = from_record(record.headers, record.value or b"")
        except ValidationError as exc:  # which attributes, never their values
            problems = sorted({f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['type']}"
                               for e in exc.errors(include_input=False)})
            raise Rejected("undecodable", "not a valid CloudEvent: " + "; ".join(problems),
                           _header(record, "ce_id")) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected("undecodable", f"not a valid CloudEvent: {type(exc).__name__}",
                           _header(record, "ce_id")) from None
        try:  # before anything about the record is believed or stored
            self.trust.verify(record.headers, envelope, data, record.appended_at, envelope.id in asked)
        except SignatureError as exc:
            raise Rejected(exc.code, f"signature: {exc}", envelope.id) from None
        if envelope.receiverregion != record.key:
            raise Rejected("misaddressed", "record key differs from ce_receiverregion", envelope.id)
        try:
            data = self.trust.open_record(record.headers, envelope, data)
        except SealError as exc:
            raise Rejected(exc.code, f"sealing: {exc}", envelope.id) from None
        try:
            payload = validate_payload(envelope.message_type, envelope.schemaversion, data)
        except ValidationError as exc:
            codes = sorted({e["type"] for e in exc.errors(include_input=False)})
            raise Rejected("contract_violation", "payload fails its contract: " + ", ".join(codes), envelope.id) from None
        except ContractError as exc:
            raise Rejected(exc.code, exc.message_en, envelope.id) from None
        return envelope, payload.model_dump(mode="json", exclude_none=True)

    async def _acknowledge(self, uow: UnitOfWork, stored: Sequence[Envelope], now: datetime) -> None:
        """One delivery receipt per sending county for the records of a batch stored (in parts when many), with
        the chain head that covers them."""
        if stored:
            head = await uow.chain_head()
            uow.record(*(MessageSent(receipt) for receipt in receipts_for(stored, self.settings.node_id, now, head)))

    async def _apply(self, uow: UnitOfWork, items: Sequence[tuple[Record, Envelope, dict[str, Any]]],
                     now: datetime) -> list[Envelope]:
        """Store decoded records not seen before; replies not from the counterpart are quarantined instead. A
        record is (sending county, id): two counties may use the same id. Returns those stored, to acknowledge."""
        unique: dict[tuple[str, str], tuple[Record, Envelope, dict[str, Any]]] = {}
        for item in items:
            unique.setdefault(_identity(item[1]), item)  # a record twice in one batch is one record
        if not unique:
            return []
        conn = uow.conn
        strays = await self._not_from_counterpart(conn, list(unique.values()))
        for record, rejected in strays:
            await self._quarantine(uow, record, rejected, now)
            uow.record(_rejected_entry(record, rejected))
        if strays:
            quarantined = {id(record) for record, _ in strays}
            unique = {key: item for key, item in unique.items() if id(item[0]) not in quarantined}
        if not unique:
            return []
        first_time = {tuple(row) for row in await conn.execute(
            insert_ignoring_duplicates(conn, inbox, "message_id", "sender").returning(inbox.c.sender,
                                                                                       inbox.c.message_id),
            [{"message_id": envelope.id, "sender": envelope.senderregion, "type": envelope.message_type.value,
              "topic": record.topic, "partition": record.partition, "offset": record.offset, "received_at": now}
             for record, envelope, _ in unique.values()],
        )}
        fresh = [(envelope, data) for key, (_, envelope, data) in unique.items() if key in first_time]
        duplicates = len(items) - len(fresh) - len(strays)
        if duplicates:
            log.info("%d duplicate records skipped", duplicates)
        receipts = [sent for env, data in fresh if env.message_type in RECEIPT_TYPES
                    for sent in _acknowledged(env, data)]
        await advance_sent(conn, receipts, DeliveryState.DELIVERED, "delivered_at", now)
        await evidence.keep_peer_heads(conn, [
            evidence.peer_head(data["receiver_node_id"], data["chain_head"], env.senderregion, env.inreplyto or env.id,
                               now)
            for env, data in fresh if env.message_type in RECEIPT_TYPES and data.get("chain_head")])
        stored = [(env, data) for env, data in fresh if env.message_type not in RECEIPT_TYPES]
        self.metrics.duplicates(duplicates)
        self.metrics.receipts(len(receipts))
        self.metrics.received((env.message_type.value, env.receiverregion) for env, _ in stored)
        uow.record(*_notices(receipts, [env for env, _ in stored]))
        if not stored:
            return []
        await conn.execute(insert(messages), [
            {**Outgoing(env, data, content_hash="").message_row(Direction.IN, DeliveryState.DELIVERED, now,
                                                              self.trust.seal_payload),
             "delivered_at": now}
            for env, data in stored
        ])
        # Feedback answers its record; a clarification answers its clarification request, the answered step
        # (协查反馈) its verification request, a roster answer its roster (as the asker keeps each).
        feedback = [_answered(env) for env, data in stored
                    if env.message_type in (MessageType.FEEDBACK, MessageType.CLARIFICATION, MessageType.ROSTER_ANSWER)
                    or (env.message_type is MessageType.VERIFICATION_STEP and data["step"] == ANSWERED)]
        await advance_sent(conn, feedback, DeliveryState.ANSWERED, "answered_at", now)
        # A record (not feedback, not a withdrawal): the receiving county now owes feedback.
        sent_at = {_identity(env): record.appended_at or now for record, env, _ in unique.values()}
        await self.obligations.open_many(
            uow, [(env, data) for env, data in stored if env.message_type in RECORD_TYPES], now, sent_at)
        # A withdrawal (after its record, also one of this batch): the record is withdrawn and its obligation
        # cancelled, unless it was answered already (the answer stands; the withdrawal is kept all the same).
        for env, _ in stored:
            if env.message_type is MessageType.WITHDRAWAL:
                await self.obligations.withdrawn(uow, env.senderregion, env.inreplyto, env.id, now)
                await uow.messages.mark_withdrawn(Direction.IN, env.senderregion, env.receiverregion, env.inreplyto,
                                                  now)
        # A clarification (补充说明) to a clarification request this county sent: the record's clock resumes, its
        # deadline moved by the working days paused. (A clarification request is simply stored: the record's sender
        # reads it in the record's thread and answers it.)
        for env, _ in stored:
            if env.message_type is MessageType.CLARIFICATION:
                requests = [r for r in await uow.messages.sent(env.inreplyto, [env.receiverregion])
                            if r.receiver == env.senderregion and r.type == MessageType.CLARIFICATION_REQUEST]
                if requests and requests[0].in_reply_to:
                    await self.obligations.resumed(uow, env.senderregion, requests[0].in_reply_to, now)
        # The monthly roster check (定期清查): a roster is answered at once; an answer's discrepancies are kept; a return
        # cancellation resolves those about its registration at this (residence) county.
        for env, data in stored:
            if env.message_type is MessageType.ROSTER:
                await self.rosters.answer(uow, env, data, now)
            elif env.message_type is MessageType.ROSTER_ANSWER:
                await self.rosters.answered(uow, env, data, now)
        await resolve_returns(uow, RESIDENCE, [(env, data) for env, data in stored
                                               if env.message_type is MessageType.RETURN_CANCELLATION],
                              self.settings.person_secret, now)
        return [env for env, _ in stored]

    async def _not_from_counterpart(self, conn: AsyncConnection, items: Sequence[tuple[Record, Envelope, Any]]
                                    ) -> list[tuple[Record, Rejected]]:
        """Replies (receipts, feedback and its amendments) that answer no message their receiver sent their
        sender, batch receipts that name any message their receiver did not send their sender, and withdrawals that
        name no record their sender sent their receiver (stored here, or coming in this batch): a county's node may
        speak only for its own messages, never for a message between others."""
        answers = [(record, envelope) for record, envelope, _ in items
                   if envelope.message_type in REPLY_TYPES and envelope.message_type not in SENDER_REPLY_TYPES]
        withdrawals = [(record, envelope) for record, envelope, _ in items
                       if envelope.message_type in SENDER_REPLY_TYPES]
        batches = [item for item in items if item[1].message_type is MessageType.DELIVERY_RECEIPTS]
        if not answers and not withdrawals and not batches:
            return []
        found: set[Sent] = set()
        named: dict[Sent, str] = {}  # the type of each message answered
        asked = {_answered(envelope) for _, envelope in answers} | {
            sent for _, envelope, data in batches for sent in _acknowledged(envelope, data)}
        for chunk in chunks(sorted(asked)):
            for row in await conn.execute(select(messages.c.sender, messages.c.receiver, messages.c.id,
                                                 messages.c.type).where(sent_among(chunk))):
                found.add(Sent(row.sender, row.receiver, row.id))
                named[Sent(row.sender, row.receiver, row.id)] = row.type
        # A record withdrawn: (its sender, its receiver, its id), as the withdrawal names it.
        received = {Sent(env.senderregion, env.receiverregion, env.id) for _, env, _ in items
                    if env.message_type in RECORD_TYPES}
        for chunk in chunks(sorted({_withdrawn(envelope) for _, envelope in withdrawals})):
            received.update(Sent(*row) for row in await conn.execute(
                select(messages.c.sender, messages.c.receiver, messages.c.id).where(
                    received_among(chunk), messages.c.type.in_(sorted(RECORD_TYPES)))))
        return [(record, Rejected("not_counterpart", f"{envelope.senderregion} was not sent message "
                                  f"{envelope.inreplyto} by {envelope.receiverregion}", envelope.id))
                for record, envelope in answers
                if _answered(envelope) not in found or not _may_answer(envelope.message_type,
                                                                       named[_answered(envelope)])] + [
                (record, Rejected("not_counterpart", f"{envelope.senderregion} was not sent {len(strangers)} of the "
                                  f"messages its receipt names by {envelope.receiverregion}", envelope.id))
                for record, envelope, data in batches
                if (strangers := [s for s in _acknowledged(envelope, data) if s not in found])] + [
                (record, Rejected("not_counterpart", f"{envelope.senderregion} sent {envelope.receiverregion} no "
                                  f"record {envelope.inreplyto} to withdraw", envelope.id))
                for record, envelope in withdrawals if _withdrawn(envelope) not in received]

    async def _await_keys(self, records: Sequence[Record]) -> None:
        """A record signed with a key not known yet may simply have overtaken its key (another topic): read the
        keys topic to its end first; only then is a key still unknown quarantined as unknown_key."""
        if not any(r.key in self.settings.served and self.trust.lacks_key(r.headers) for r in records):
            return
        if not await self.refresh_keys():
            raise KeysNotCurrent("the keys topic could not be read to its end")

    async def _quarantine(self, uow: UnitOfWork, record: Record, rejected: Rejected, now: datetime) -> None:
        """Keep the record aside with its reason (sealed at rest), and (once) send it to the dead-letter topic."""
        log.warning("record %s/%d@%d quarantined: %s", record.topic, record.partition, record.offset, rejected.code)
        headers = [(k, v.decode(errors="replace")) for k, v in record.headers]
        context = quarantine_context(record.topic, record.partition, record.offset)
        first = await uow.conn.execute(
            insert_ignoring_duplicates(uow.conn, quarantine, "topic", "partition", "offset").values(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key[:128] if record.key else None,
                message_id=rejected.message_id[:64] if rejected.message_id else None,
                reason_code=rejected.code,
                reason=rejected.reason,
                headers=orjson.dumps(headers).decode(),
                value=self.trust.seal_value(record.value, context) if record.value is not None else None,
                received_at=now,
            )
        )
        if first.rowcount:  # else read again after a crash: quarantined and dead-lettered already
            uow.record(RecordSetAside(record.topic, record.partition, record.offset, record.key or "", headers,
                                      record.value or b"", rejected.code, rejected.reason))

    async def set_aside(self, record: Record, code: str, reason: str) -> tuple[dict[tuple[str, int], int], int]:
        """Quarantine a record the database refused, and move past it (the consumer's last resort)."""
        now = utcnow()
        async with self.uow() as uow:
            await self._quarantine(uow, record, Rejected(code, reason, _header(record, "ce_id")), now)
            await uow.conn.execute(
                upsert(uow.conn, consumer_offsets, ["topic", "partition"],
                       {"topic": record.topic, "partition": record.partition, "next_offset": record.offset + 1})
            )
        return {(record.topic, record.partition): record.offset + 1}, uow.published

    async def replay(self, seq: int) -> tuple[str, str | None, int]:
        """Process a quarantined record again (after a fix). Returns (result, message id, outbox rows added);
        result is stored, duplicate, or the reason code it is rejected with again. KeyError if no such record."""
        now = utcnow()
        await self.refresh_keys()  # a key published since the record was set aside
        async with self.uow() as uow:
            conn = uow.conn
            row = (await conn.execute(select(quarantine).where(quarantine.c.seq == seq))).first()
            if row is None:
                raise KeyError(seq)
            headers = [(k, v.encode()) for k, v in orjson.loads(row.headers)]
            value = row.value
            if value is not None:
                value = self.trust.open_value(value, quarantine_context(row.topic, row.partition, row.offset))
            # Appended (as far as this node knows) when it first read it.
            record = Record(row.topic, row.partition, row.offset, row.key, headers, value, row.received_at)
            if record.key is None:  # quarantined before keys were kept
                record = Record(row.topic, row.partition, row.offset, _header(record, "ce_receiverregion"),
                                headers, value, row.received_at)
            message_id = row.message_id
            try:
                envelope, data = self._decode(record, await self._asked_again(conn, [record]))
            except Rejected as rejected:
                result = rejected.code
            else:
                message_id = envelope.id
                seen = await conn.scalar(select(inbox.c.message_id).where(
                    inbox.c.message_id == envelope.id, inbox.c.sender == envelope.senderregion))
                stray = await self._not_from_counterpart(conn, [(record, envelope, data)])
                if seen is not None:
                    result = "duplicate"
                elif stray:
                    result = stray[0][1].code
                elif envelope.message_type in RECONCILIATION_TYPES:
                    await self.control.receive(uow, record, envelope, data, now)
                    result = "stored"
                else:
                    await self._acknowledge(uow, await self._apply(uow, [(record, envelope, data)], now), now)
                    result = "stored"
            await conn.execute(
                update(quarantine).where(quarantine.c.seq == seq).values(replayed_at=now, replay_result=result)
            )
        log.info("quarantined record %d replayed: %s", seq, result)
        return result, message_id, uow.published


def _rejected_entry(record: Record, rejected: Rejected) -> Noted:
    """The evidence entry of a record set aside (where it was on the topic, and why)."""
    return Noted("rejected", rejected.message_id, record.key, "kafka",
                 {"code": rejected.code, "topic": record.topic, "partition": record.partition,
                  "offset": record.offset})


def _identity(envelope: Envelope) -> tuple[str, str]:
    """What names a record: its sending county and the id that county gave it."""
    return envelope.senderregion, envelope.id


def _answered(envelope: Envelope) -> Sent | None:
    """The message a reply answers (None for a record that answers nothing)."""
    return replied_to(envelope.senderregion, envelope.receiverregion, envelope.inreplyto)


def _acknowledged(envelope: Envelope, data: dict[str, Any]) -> list[Sent]:
    """The messages a receipt acknowledges: the one a single receipt answers, or those a batch receipt names (each
    one its receiver sent its sender)."""
    if envelope.message_type is MessageType.DELIVERY_RECEIPT:
        return [Sent(envelope.receiverregion, envelope.senderregion, envelope.inreplyto or "")]
    return [Sent(envelope.receiverregion, envelope.senderregion, message_id) for message_id in data["ids"]]


def _may_answer(reply: MessageType, named: str) -> bool:
    """Whether a reply of type `reply` may name a message of type `named`: a clarification request names a record, a
    clarification a clarification request, a verification step a verification request (which feedback never
    answers), a roster answer a roster (which nothing else answers but its receipt). Checked per reply: a wrong one
    takes no right reply of the same batch with it."""
    if reply is MessageType.CLARIFICATION_REQUEST:
        return named in RECORD_TYPES
    if reply is MessageType.CLARIFICATION:
        return named == MessageType.CLARIFICATION_REQUEST
    if reply is MessageType.VERIFICATION_STEP:
        return named == MessageType.VERIFICATION_REQUEST
    if reply is MessageType.ROSTER_ANSWER:
        return named == MessageType.ROSTER
    if reply is MessageType.FEEDBACK:
        return named not in REQUEST_TYPES and named != MessageType.ROSTER
    return reply is MessageType.DELIVERY_RECEIPT  # acknowledges any message; a reply of no rule here names nothing


def _withdrawn(envelope: Envelope) -> Sent:
    """The record a withdrawal withdraws: one its sender sent its receiver."""
    return Sent(envelope.senderregion, envelope.receiverregion, envelope.inreplyto or "")


def _header(record: Record, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode(errors="replace")[:64]
    return None


def _notices(receipts: Sequence[Sent], stored: Sequence[Envelope]) -> list[CountyNotice]:
    """What the receiving counties' case systems are told by webhook (exchange/domain/webhooks.py): a record or
    feedback received, and the states that changed: a message of theirs delivered or answered, a record they
    received withdrawn by its sender. Ids and codes only: a record's data is read when the event is sent."""
    notices = [CountyNotice(sent.sender, "message.delivered", sent.sender, sent.receiver, sent.id)
               for sent in receipts]
    for env in stored:
        sender, receiver = env.senderregion, env.receiverregion
        if env.message_type in RECORD_TYPES:
            notices.append(CountyNotice(receiver, "record.received", sender, receiver, env.id))
        elif env.message_type is MessageType.FEEDBACK:
            notices += [CountyNotice(receiver, "feedback.received", sender, receiver, env.id),
                        CountyNotice(receiver, "message.answered", receiver, sender, env.inreplyto,
                                     {"feedback_id": env.id})]
        elif env.message_type is MessageType.WITHDRAWAL:
            notices.append(CountyNotice(receiver, "record.withdrawn", sender, receiver, env.inreplyto,
                                        {"withdrawal_id": env.id}))
    return notices
