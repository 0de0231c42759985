"""Domain events: what a use case records in its unit of work, and the unit of work turns into effects at commit.

Each event names a fact of the exchange, not a table: the unit of work (exchange/adapters/unit_of_work.py)
decides which outbox rows, evidence-chain entries and metric increments follow from it. It is the only writer of
the outbox and of the evidence chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exchange.domain.message import Outgoing


@dataclass(frozen=True)
class MessageAccepted:
    """A local case system's message (record or feedback) was accepted: it goes to its receiver, and the evidence
    chain says who sent it."""

    message: Outgoing
    principal: str | None


@dataclass(frozen=True)
class MessageSent:
    """A message the node makes itself (delivery receipt, reconciliation digest, resend request) goes out."""

    message: Outgoing


@dataclass(frozen=True)
class Noted:
    """A line of the evidence chain with no other effect (received, rejected, published, key created, refused…)."""

    event: str
    message_id: str | None = None
    county: str | None = None
    principal: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class ObligationChanged:
    """An obligation was opened, answered or cancelled: its lifecycle event (`body`, no personal field) goes to the
    monitoring topic, vouched for by the receiving county."""

    event: str
    receiver: str
    message_id: str
    revision: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RosterAnswered:
    """A residence county answered a roster (定期清查): its counts (`body`, no personal field, no registration id) go to
    the monitoring topic, vouched for by that county."""

    residence: str
    roster_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ReminderDue:
    """A reminder's time came (`body`: the reminder as the reminders topic carries it)."""

    receiver: str
    message_id: str
    kind: str
    body: dict[str, Any]


@dataclass(frozen=True)
class RecordSetAside:
    """A record from Kafka was quarantined: a copy goes to the dead-letter topic (sealed), once."""

    topic: str
    partition: int
    offset: int
    key: str
    headers: Sequence[tuple[str, str]]
    value: bytes
    code: str
    reason: str


@dataclass(frozen=True)
class ResendAsked:
    """A peer asked again for messages it lacks: the records that carried them (`stored`: their outbox sequence
    numbers, as the sending node keeps them) are published again exactly as they were."""

    peer: str
    stored: Sequence[int]


@dataclass(frozen=True)
class AgreementAnnounced:
    """A signed agreement goes to every node of the federation (the agreements topic)."""

    agreement_id: str
    version: int
    signed: bytes


@dataclass(frozen=True)
class CountyNotice:
    """Something a county's own case system is told of by webhook push (exchange/domain/webhooks.py): `type` names
    it, the message it is about is (`sender`, `receiver`, `message_id`), `body` says the rest without any personal
    field. Events with the same `key` are one event (a to-do item seen due at every look is announced once)."""

    county: str
    type: str
    sender: str | None = None
    receiver: str | None = None
    message_id: str | None = None
    body: dict[str, Any] | None = None
    key: str | None = None


Event = (MessageAccepted | MessageSent | Noted | ObligationChanged | RosterAnswered | ReminderDue | RecordSetAside
         | ResendAsked | AgreementAnnounced | CountyNotice)

