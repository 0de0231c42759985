"""The message: an envelope and its payload, the content hash that makes a repeated post idempotent, delivery
receipts, and a record as read from Kafka."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from contracts import Envelope, MessageType, ce_type, dataschema_for, source_for
from contracts.payloads import MAX_IDS, ids_sha256

# Delivery receipts get an id derived from the records they acknowledge, so a receipt produced twice is
# recognised as one by the sender's inbox.
_RECEIPT_NAMESPACE = uuid.UUID("6f1f3c2e-6d7a-4b8e-9b55-2f0c0f7d9a11")
# Withdrawals likewise: derived from the record withdrawn, so a record is withdrawn once.
_WITHDRAWAL_NAMESPACE = uuid.UUID("3d0c52a4-1b7e-4f0a-8a43-9e6b2c7d1f58")


@dataclass(frozen=True)
class Outgoing:
    """One validated message ready to be stored with its outbox record."""

    envelope: Envelope
    data: dict[str, Any]
    content_hash: str

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def key(self) -> tuple[str, str]:
        """What names the message: (sending county, id); ids are each county's own."""
        return self.envelope.senderregion, self.envelope.id

    @cached_property
    def attributes(self) -> dict[str, Any]:
        """The envelope in JSON form, dumped once for the message row, the headers and the signature."""
        return self.envelope.model_dump(mode="json", exclude_none=True)

    def message_row(self, direction: str, state: str, now: datetime,
                    seal_payload: Callable[[str, str], str]) -> dict[str, Any]:
        """The message as the node keeps it, its payload sealed at rest by `seal_payload(payload, id)`."""
        env = self.envelope
        payload = orjson.dumps(self.data).decode()
        return {
            "id": env.id,
            "direction": direction,
            "type": env.message_type.value,
            "schema_version": env.schemaversion,
            "sender": env.senderregion,
            "receiver": env.receiverregion,
            "in_reply_to": env.inreplyto,
            "agreement_id": env.agreementid,
            "state": state,
            "envelope": orjson.dumps(self.attributes).decode(),
            "payload": seal_payload(payload, env.id),
            "content_hash": self.content_hash,
            "created_at": now,
        }


def content_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def new_envelope(
    *,
    message_type: MessageType,
    schema_version: str,
    sender: str,
    receiver: str,
    now: datetime,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    agreement_id: str | None = None,
    subject: str | None = None,
) -> Envelope:
    """Raises pydantic.ValidationError when the envelope attributes are invalid."""
    return Envelope(
        id=message_id or str(uuid.uuid4()),
        source=source_for(sender),
        type=ce_type(message_type),
        time=now,
        subject=subject,
        dataschema=dataschema_for(message_type, schema_version),
        senderregion=sender,
        receiverregion=receiver,
        inreplyto=in_reply_to,
        agreementid=agreement_id,
        schemaversion=schema_version,
    )


def withdrawal_id(sender: str, record_id: str) -> str:
    """The id of the withdrawal of record `record_id` of county `sender`: one per record, so a second withdrawal is
    recognised as the first."""
    return str(uuid.uuid5(_WITHDRAWAL_NAMESPACE, f"{sender}/{record_id}"))


def clarification_id(sender: str, request_id: str) -> str:
    """The id of the clarification answering request `request_id` of county `sender`: one answer per request."""
    return str(uuid.uuid5(_WITHDRAWAL_NAMESPACE, f"clarification/{sender}/{request_id}"))


def receipts_for(stored: Sequence[Envelope], node_id: str, now: datetime,
                 chain_head: dict[str, Any] | None = None) -> list[Outgoing]:
    """The delivery receipts a receiving node sends back for the records it stored together: one per receiving and
    sending county (its ids in the order stored, a part per `MAX_IDS`), each with the evidence chain head (the
    sender keeps it: the receiving node's operator can then not rewrite the chain unnoticed)."""
    by_pair: dict[tuple[str, str], dict[str, None]] = {}
    for received in stored:
        by_pair.setdefault((received.receiverregion, received.senderregion), {})[received.id] = None
    receipts = []
    for (county, sender), named in by_pair.items():
        ids = list(named)
        for start in range(0, len(ids), MAX_IDS):
            part = ids[start:start + MAX_IDS]
            data: dict[str, Any] = {"received_at": now.isoformat(), "receiver_node_id": node_id, "ids": part}
            if chain_head is not None:
                data["chain_head"] = chain_head
            envelope = new_envelope(message_type=MessageType.DELIVERY_RECEIPTS, schema_version="1.0", sender=county,
                                    receiver=sender, now=now, message_id=receipts_id(sender, part))
            receipts.append(Outgoing(envelope, data, content_hash(data)))
    return receipts


def receipts_id(sender: str, ids: Sequence[str]) -> str:
    """The id of the delivery receipt for records `ids` of county `sender`."""
    return str(uuid.uuid5(_RECEIPT_NAMESPACE, f"{sender}/{ids_sha256(ids)}"))


@dataclass(frozen=True)
class Record:
    """What the consumer hands over of one Kafka record (no aiokafka types past this point)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Sequence[tuple[str, bytes]]
    value: bytes | None
    #: When the broker appended it (exchange.adapters.kafka.control.appended_at); None: unknown, the receiver's clock.
    appended_at: datetime | None = None
