"""Turning what a local system posts into envelopes and Kafka records, and back into rows."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from contracts import Envelope, MessageType, ce_type, dataschema_for, source_for
from exchange.adapters.kafka.cloudevents import attribute_headers, encode_data
from exchange.adapters.kafka.topics import TopicScheme

if TYPE_CHECKING:
    from exchange.adapters.crypto.trust import Trust

# Delivery receipts get an id derived from the record they acknowledge, (sender, id), so a
# receipt produced twice is recognised as one by the sender's inbox.
_RECEIPT_NAMESPACE = uuid.UUID("6f1f3c2e-6d7a-4b8e-9b55-2f0c0f7d9a11")


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

    def outbox_row(self, topics: TopicScheme, now: datetime, trust: Trust | None = None) -> dict[str, Any]:
        """With `trust`: the value sealed at rest. The relay seals it to the receiving county and signs it when it
        publishes the record (Trust.wire), so it goes out under the keys current then."""
        receiver = self.envelope.receiverregion
        topic, partition = topics.address(receiver)
        headers = [[k, v.decode()] for k, v in attribute_headers(self.attributes)]
        value = encode_data(self.data)
        if trust is not None:
            value = trust.seal_value(value, self.id)
        return {
            "message_id": self.id,
            "topic": topic,
            "partition": partition,
            "key": receiver,
            "headers": orjson.dumps(headers).decode(),
            "value": value,
            "created_at": now,
            "attempts": 0,
        }

    def message_row(self, direction: str, state: str, now: datetime, trust: Trust | None = None) -> dict[str, Any]:
        """With `trust`: the payload sealed at rest."""
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
            "payload": trust.seal_payload(payload, env.id) if trust is not None else payload,
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


def receipt_id(sender: str, message_id: str) -> str:
    """The id of the delivery receipt for message `message_id` of county `sender`."""
    return str(uuid.uuid5(_RECEIPT_NAMESPACE, f"{sender}/{message_id}"))


def receipt_for(received: Envelope, node_id: str, now: datetime,
                chain_head: dict[str, Any] | None = None) -> Outgoing:
    """The delivery receipt a receiving node sends back for a record it stored, with its evidence chain head (the
    sender keeps it: the receiving node's operator can then not rewrite the chain unnoticed)."""
    data: dict[str, Any] = {"received_at": now.isoformat(), "receiver_node_id": node_id}
    if chain_head is not None:
        data["chain_head"] = chain_head
    envelope = new_envelope(
        message_type=MessageType.DELIVERY_RECEIPT,
        schema_version="1.1",
        sender=received.receiverregion,
        receiver=received.senderregion,
        now=now,
        message_id=receipt_id(received.senderregion, received.id),
        in_reply_to=received.id,
    )
    return Outgoing(envelope, data, content_hash(data))
