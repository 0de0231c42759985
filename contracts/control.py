"""Records of the control topics: public signing keys, their revocations and public sealing keys
(``<prefix>.keys``), signed cooperation agreements (``<prefix>.agreements``), obligation lifecycle events
(``<prefix>.monitor``), reminders (``<prefix>.reminders``) and the ``mpx_dlq_*`` headers of dead letters
(``<prefix>.deadletter``); and `SealedData`, the value a records topic carries (a payload sealed to its receiving
county), which a dead letter usually carries too. Which of them goes on which topic: contracts/asyncapi.py.

Every timestamp must carry its time zone (a naive one is refused as a contract violation, never guessed).
Signatures are Ed25519, base64url without padding, over ``canonical(...)`` of a purpose-tagged object (see
exchange/adapters/crypto/key_records.py, sealing.py and signed_agreements.py).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints

from contracts.base import ContractModel, MessageId
from contracts.regions import CountyCode

#: Id of a key: ``<county>-<UTC time>-<4 hex>`` as nodes make them, or an operator's name for an agreements key.
KeyId = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")]
#: A raw 32-byte public key (Ed25519 for signing, X25519 for sealing), base64url without padding.
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
    #: 协查时限 — per urgency (urgent, expedited, certificate_check); absent: the calendar-day defaults 15/30/7.
    verification_deadlines: dict[str, DeadlineBody | Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=dict)


class SignedAgreement(ContractModel):
    """An agreement as the agreements topic carries it: signed by a key the federation trusts for agreements."""

    agreement: AgreementBody
    key_id: KeyId
    signature: Signature


class MonitoringEvent(ContractModel):
    """An obligation's whole current state (no personal field), signed by its receiving county.

    Unknown fields are ignored rather than refused, so a monitor keeps reading events of a newer node."""

    model_config = ConfigDict(extra="ignore")

    event: Literal["opened", "answered", "cancelled", "paused", "resumed"]
    revision: int = Field(ge=1)
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    message_type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    urgency: Literal["urgent", "expedited", "certificate_check"] | None = Field(
        default=None, description="紧急程度 — a verification request's urgency (urgent 紧急, expedited 急, "
                                  "certificate_check 证明核验); none for a record")
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
    cancel_reason: Literal["withdrawn", "superseded_by_return"] | None = Field(
        default=None, description="撤销原因 — why it was cancelled: withdrawn 发送地撤回, superseded_by_return 返回注销")
    paused: bool = False
    paused_working_days: int = 0
    pause_count: int = Field(default=0, ge=0, description="请求补充说明次数 — how many times the clock was paused for "
                                                        "clarification (each pause, also one of no working day)")
    sender_due_at: AwareDatetime | None = None
    sender_due_day: date | None = None
    sent_at: AwareDatetime | None = None
    sender_late: bool | None = None


class RosterFigures(ContractModel):
    """The counts of one monthly roster (定期清查, or one part of it) between two counties, as the residence county
    answered it (``cn.mpx.roster.answered``), signed by the residence county: counts only, no person and no
    registration id.

    Unknown fields are ignored rather than refused, so a monitor keeps reading events of a newer node."""

    model_config = ConfigDict(extra="ignore")

    month: Annotated[str, StringConstraints(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")] = Field(
        description="清查月份 — YYYY-MM")
    registration_county: CountyCode = Field(description="户籍地 — the county that sent the roster")
    residence_county: CountyCode = Field(description="现居住地 — the county that answered it (and signs this)")
    roster_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="清查名单编号 — the roster (or its part) answered")
    part: int = Field(1, ge=1, description="第几部分 — which part of the month's roster")
    parts: int = Field(1, ge=1, description="共几部分 — the month's roster's parts")
    answered_at: AwareDatetime
    entries: int = Field(ge=0, description="名单人数 — persons on the roster")
    still_here: int = Field(ge=0, description="仍在本地")
    left: int = Field(ge=0, description="已离开")
    never_arrived: int = Field(ge=0, description="未到达")
    unknown: int = Field(ge=0, description="情况不明")


class SealingPublicKeyBody(ContractModel):
    """A county's public X25519 sealing key: senders seal records to the county's newest one (HPKE, RFC 9180)."""

    county: CountyCode
    key_id: KeyId = Field(description="e.g. seal-330203-20261204T090000Z-a1b2")
    public: RawPublicKey = Field(description="raw 32-byte X25519 public key, base64url without padding")
    not_before: AwareDatetime


class SealingKeyRecordBody(ContractModel):
    """A public sealing key on the keys topic (record key ``seal:<county>:<key id>``), signed by a signing key of
    its county: Ed25519 over ``canonical({"purpose": "mpx-sealing-key", "key": …})``."""

    kind: Literal["sealing_key"]
    key: SealingPublicKeyBody
    signed_by: KeyId
    signature: Signature


#: The one sealing suite: HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
SEALING_ALGORITHM = "HPKE-Base-X25519-SHA256-ChaCha20Poly1305"


class SealedData(ContractModel):
    """A record value sealed to one county (binding 1.1): HPKE of the payload JSON, bound to the record's
    CloudEvents attributes and the key id. Only the holder of the private key ``kid`` opens it; the opened
    JSON is the payload its ``ce_type`` and ``ce_schemaversion`` name. A dead letter that came in clear is
    sealed the same way to the refusing county's own key, bound to its dead-letter id instead."""

    mpx_sealed: Literal[1] = Field(description="marks the value as sealed; the format's version")
    alg: Literal["HPKE-Base-X25519-SHA256-ChaCha20Poly1305"]
    kid: KeyId = Field(description="id of the sealing key it is sealed to (of the receiving county)")
    ct: Annotated[str, StringConstraints(min_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = Field(
        description="base64url (no padding) of the HPKE encapsulated key (32 bytes) followed by the ciphertext"
    )


class ReminderKind(StrEnum):
    """When a reminder fires: at 50 % and 75 % of the allowed time, one working day before the deadline, at breach."""

    HALF = "half"
    THREE_QUARTERS = "three_quarters"
    LAST_DAY = "last_day"
    BREACH = "breach"


class ObligationReminder(ContractModel):
    """A reminder (催办提醒) to a receiving county of an obligation about to fall (or fallen) overdue, on the
    reminders topic keyed by that county. Unsigned; no personal field."""

    kind: ReminderKind
    message_id: MessageId = Field(description="the record the feedback is owed for")
    message_type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    sender: CountyCode
    receiver: CountyCode = Field(description="the county that owes the feedback (and is reminded)")
    due_at: AwareDatetime
    fire_at: AwareDatetime = Field(description="when the reminder was due to fire")


#: Kafka header values are strings; a partition or an offset is one in decimal.
DecimalText = Annotated[str, StringConstraints(pattern=r"^[0-9]+$", max_length=20)]


class DeadLetterHeaders(ContractModel):
    """The Kafka headers of a dead letter (the record key is the refused record's, cut to 80 characters): every
    header of the refused record as it came (its ``ce_*`` attributes, ``mpx-key-id``, ``mpx-signature``, …: any
    name, string values) and the ``mpx_dlq_*`` headers the refusing node adds. The value is the refused record's
    value as it came when it is sealed (`SealedData`), else (in clear, or not even JSON) sealed to the newest
    sealing key of the record key's county; left as it came only where the refusing node holds no sealing key of
    that county (a record key that is none of its counties)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str] = Field(init=False)

    mpx_dlq_reason_code: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        description="why it was refused, e.g. undecodable, unsigned, unknown_key, key_revoked, key_not_valid, "
        "time_out_of_bounds, bad_signature, misaddressed, not_counterpart, unsealed, unknown_sealing_key, unopenable, "
        "contract_violation, unstorable, or a contract's own error code"
    )
    mpx_dlq_reason: str = Field(description="the reason, in English")
    mpx_dlq_topic: Annotated[str, StringConstraints(max_length=249, pattern=r"^[A-Za-z0-9._-]+$")] = Field(
        description="where the refused record was read: topic, partition, offset"
    )
    mpx_dlq_partition: DecimalText
    mpx_dlq_offset: DecimalText
    mpx_dlq_node: Annotated[str, StringConstraints(min_length=1)] = Field(description="the refusing node's id")
    mpx_dlq_time: AwareDatetime = Field(description="when it was refused")


#: Models of the control topics, by schema file name (contracts/schemas/<CONTROL_VERSION>/).
CONTROL_MODELS = {"key_record": KeyRecordBody, "key_revocation": KeyRevocationBody,
                  "sealing_key_record": SealingKeyRecordBody, "signed_agreement": SignedAgreement,
                  "monitoring_event": MonitoringEvent, "roster_figures": RosterFigures,
                  "reminder": ObligationReminder,
                  "dead_letter_headers": DeadLetterHeaders, "sealed_data": SealedData}
CONTROL_VERSION = "1.0"
