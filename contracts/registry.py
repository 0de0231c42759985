"""Which payload model describes which message type in which schema version.

A released version is never changed in place: a new version gets its own model
here, and the compatibility gate (``contracts.compat``) keeps each published
version readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from contracts.errors import UnknownSchemaVersion
from contracts.message_types import MessageType, as_message_type
from contracts.payloads import (
    Birth,
    Clarification,
    ClarificationRequest,
    DeliveryReceipt,
    DeliveryReceipt11,
    DeliveryReceipts,
    Feedback,
    OutflowRegistration,
    PregnancyCheck,
    ReconciliationDigest,
    ReconciliationDigest11,
    ResendRequest,
    ReturnCancellation,
    Roster,
    RosterAnswer,
    VerificationRequest,
    VerificationStep,
    Withdrawal,
)

#: (message type, payload schema version) -> model
PAYLOAD_MODELS: Mapping[tuple[MessageType, str], type[BaseModel]] = {
    (MessageType.OUTFLOW_REGISTRATION, "1.0"): OutflowRegistration,
    (MessageType.PREGNANCY_CHECK, "1.0"): PregnancyCheck,
    (MessageType.BIRTH, "1.0"): Birth,
    (MessageType.RETURN_CANCELLATION, "1.0"): ReturnCancellation,
    (MessageType.FEEDBACK, "1.0"): Feedback,
    (MessageType.DELIVERY_RECEIPT, "1.0"): DeliveryReceipt,
    (MessageType.DELIVERY_RECEIPT, "1.1"): DeliveryReceipt11,
    (MessageType.DELIVERY_RECEIPTS, "1.0"): DeliveryReceipts,
    (MessageType.RECONCILIATION_DIGEST, "1.0"): ReconciliationDigest,
    (MessageType.RECONCILIATION_DIGEST, "1.1"): ReconciliationDigest11,
    (MessageType.RESEND_REQUEST, "1.0"): ResendRequest,
    (MessageType.WITHDRAWAL, "1.0"): Withdrawal,
    (MessageType.CLARIFICATION_REQUEST, "1.0"): ClarificationRequest,
    (MessageType.CLARIFICATION, "1.0"): Clarification,
    (MessageType.VERIFICATION_REQUEST, "1.0"): VerificationRequest,
    (MessageType.VERIFICATION_STEP, "1.0"): VerificationStep,
    (MessageType.ROSTER, "1.0"): Roster,
    (MessageType.ROSTER_ANSWER, "1.0"): RosterAnswer,
}

#: Known payload schema versions of each message type.
SCHEMA_VERSIONS: dict[MessageType, frozenset[str]] = {
    mt: frozenset(v for (t, v) in PAYLOAD_MODELS if t is mt) for mt in MessageType
}

#: The version a producer should use when it has no reason to pick another.
CURRENT_VERSIONS: dict[MessageType, str] = {
    mt: max(versions, key=lambda v: tuple(int(p) for p in v.split("."))) for mt, versions in SCHEMA_VERSIONS.items()
}


def payload_model(message_type: MessageType | str, version: str) -> type[BaseModel]:
    """The model for a type and version; raises UnknownMessageType / UnknownSchemaVersion."""
    model = PAYLOAD_MODELS.get((as_message_type(message_type), version))
    if model is None:
        raise UnknownSchemaVersion()
    return model


def validate_payload(message_type: MessageType | str, version: str, data: Any) -> BaseModel:
    """Validate a parsed JSON payload; raises UnknownMessageType, UnknownSchemaVersion
    or pydantic.ValidationError (whose messages never contain the input)."""
    return payload_model(message_type, version).model_validate(data)
