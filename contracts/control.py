"""Records of the control topics: public keys and their revocations (``<prefix>.keys``), signed cooperation
agreements (``<prefix>.agreements``) and obligation lifecycle events (``<prefix>.monitor``).

Every timestamp must carry its time zone (a naive one is refused as a contract violation, never guessed).
Signatures are Ed25519, base64url without padding, over ``canonical(...)`` of a purpose-tagged object (see
exchange/adapters/crypto/key_records.py, sealing.py and signed_agreements.py).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints

from contracts.base import ContractModel
from contracts.regions import CountyCode

#: Id of a key: ``<county>-<UTC time>-<4 hex>`` as nodes make them, or an operator's name for an agreements key.
KeyId = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]
#: A raw 32-byte Ed25519 public key, base64url without padding.
RawPublicKey = Annotated[str, StringConstraints(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
#: An Ed25519 signature (64 bytes), base64url without padding.
Signature = Annotated[str, StringConstraints(min_length=86, max_length=86, pattern=r"^[A-Za-z0-9_-]+$")]


class KeyUse(StrEnum):
    """What a published key is for. Every kind is endorsed by a signing key of its county under the same rules."""

    SIGNING = "signing"


class PublicKeyBody(ContractModel):
    county: CountyCode
    key_id: KeyId
    public: RawPublicKey
    not_before: AwareDatetime
    not_after: AwareDatetime | None = None
    use: KeyUse = KeyUse.SIGNING


class KeyRecordBody(ContractModel):
    """A public key and its endorsement: a signature over the key by a signing key of the same county."""

    kind: Literal["key"] = "key"
    key: PublicKeyBody
    endorsed_by: KeyId
    endorsement: Signature


class KeyRevocationBody(ContractModel):
    """A key withdrawn at once and for good, signed by the key itself or a newer signing key of its county."""

    kind: Literal["revocation"]
    county: CountyCode
    key_id: KeyId
    use: KeyUse = KeyUse.SIGNING
    revoked_at: AwareDatetime
    endorsed_by: KeyId
    endorsement: Signature


class DeadlineBody(ContractModel):
    days: int = Field(ge=1, le=3650)
    unit: Literal["working", "calendar"] = "working"


class AgreementBody(ContractModel):
    """A cooperation agreement (区域协作协议); the rules it must also follow are `exchange.domain.Agreement`'s."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
    version: int = Field(ge=1, le=2**31 - 1)
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    parties: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{2,6}$")]] = Field(min_length=1, max_length=100)
    effective_from: date
    effective_to: date | None = None
    feedback_deadlines: dict[str, DeadlineBody | Annotated[int, Field(ge=1, le=3650)]] = Field(default_factory=dict)
    sender_deadlines: dict[str, DeadlineBody | Annotated[int, Field(ge=1, le=3650)]] = Field(default_factory=dict)
    covers_within_party: bool = False


class SignedAgreement(ContractModel):
    """An agreement as the agreements topic carries it: signed by a key the federation trusts for agreements."""

    agreement: AgreementBody
    key_id: KeyId
    signature: Signature


class MonitoringEvent(ContractModel):
    """An obligation's whole current state (no personal field), signed by its receiving county.

    Unknown fields are ignored rather than refused, so a monitor keeps reading events of a newer node."""

    model_config = ConfigDict(extra="ignore")

    event: Literal["opened", "answered", "cancelled"]
    revision: int = Field(ge=1)
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    message_type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    sender: CountyCode
    receiver: CountyCode
    agreement_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    agreement_version: int
    calendar_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    received_at: AwareDatetime
    due_at: AwareDatetime
    due_day: date
    provisional: bool
    answered_at: AwareDatetime | None = None
    response_working_days: int | None = None
    cancelled_at: AwareDatetime | None = None
    paused: bool = False
    paused_working_days: int = 0
    sender_due_at: AwareDatetime | None = None
    sender_due_day: date | None = None
    sent_at: AwareDatetime | None = None
    sender_late: bool | None = None


#: Models of the control topics, by schema file name (contracts/schemas/<CONTROL_VERSION>/).
CONTROL_MODELS = {"key_record": KeyRecordBody, "key_revocation": KeyRevocationBody,
                  "signed_agreement": SignedAgreement, "monitoring_event": MonitoringEvent}
CONTROL_VERSION = "1.0"
