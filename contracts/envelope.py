"""The envelope of every message: CloudEvents 1.0 attributes plus ours.

Attribute names are the CloudEvents names exactly, since in the Kafka binding
(binary mode) each becomes a ``ce_<name>`` header; CloudEvents extension
names must be lower-case alphanumerics, hence ``senderregion``, ``inreplyto``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from contracts.base import ContractModel, MessageId
from contracts.clock import now_in_china
from contracts.errors import UnknownMessageType, custom_error
from contracts.message_types import REPLY_TYPES, MessageType, ce_type, message_type_of
from contracts.regions import CountyCode
from contracts.registry import CURRENT_VERSIONS, SCHEMA_VERSIONS


def _known_ce_type(value: str) -> str:
    try:
        message_type_of(value)
    except UnknownMessageType:
        raise custom_error("unknown_message_type") from None
    return value


CloudEventType = Annotated[
    str,
    AfterValidator(_known_ce_type),
    WithJsonSchema({"type": "string", "enum": sorted(ce_type(mt) for mt in MessageType)}),
]

#: RFC 3986 URI-reference: no whitespace or control characters.
UriReference = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s\x00-\x1f\x7f]+$")]


def source_for(county: str) -> str:
    """CloudEvents ``source`` of a county's node."""
    return f"urn:mpx:county:{county}"


def dataschema_for(message_type: MessageType, version: str) -> str:
    """CloudEvents ``dataschema`` naming a payload schema (the ``$id`` of its JSON Schema)."""
    return f"urn:mpx:schema:{MessageType(message_type).value}:{version}"


class Envelope(ContractModel):
    """CloudEvents attributes and exchange extensions of one message."""

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents spec version")
    id: MessageId = Field(description="消息编号 — unique message id; consumers deduplicate on it")
    source: UriReference = Field(description="来源 — URI-reference of the sending node, e.g. urn:mpx:county:621227")
    type: CloudEventType = Field(description="消息类型 — cn.mpx.<message_type>")
    schemaversion: str = Field(
        min_length=1, max_length=16, description="数据结构版本 — payload schema version, e.g. 1.0"
    )
    time: AwareDatetime = Field(description="发送时间 — when the message was created (timezone-aware)")
    subject: str | None = Field(default=None, min_length=1, max_length=256, description="主题 — optional subject")
    dataschema: UriReference | None = Field(
        default=None,
        description="数据结构 — URI of the payload schema, urn:mpx:schema:<message_type>:<version>",
    )
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="content type of the payload"
    )
    senderregion: CountyCode = Field(description="发送地 — county code (GB/T 2260) of the sending county")
    receiverregion: CountyCode = Field(description="接收地 — county code (GB/T 2260) of the receiving county")
    inreplyto: MessageId | None = Field(
        default=None,
        validate_default=True,
        description="答复消息编号 — id of the message this answers (feedback, delivery_receipt, roster_answer: a "
                    "roster), withdraws (withdrawal), asks about (clarification_request: a record), clarifies "
                    "(clarification: a request) or reports on (verification_step: a verification request); "
                    "required for those only",
    )
    agreementid: MessageId | None = Field(default=None, description="协作协议编号 — cooperation agreement id")

    @property
    def message_type(self) -> MessageType:
        """The message type named by ``type``."""
        return message_type_of(self.type)

    @field_validator("schemaversion")
    @classmethod
    def _version_known(cls, value: str, info: ValidationInfo) -> str:
        type_ = info.data.get("type")
        if type_ is not None and value not in SCHEMA_VERSIONS[message_type_of(type_)]:
            raise custom_error("unknown_schema_version")
        return value

    @field_validator("dataschema")
    @classmethod
    def _dataschema_matches(cls, value: str | None, info: ValidationInfo) -> str | None:
        type_, version = info.data.get("type"), info.data.get("schemaversion")
        if (
            value is not None
            and type_ is not None
            and version is not None
            and value != dataschema_for(message_type_of(type_), version)
        ):
            raise custom_error("dataschema_mismatch")
        return value

    @field_validator("receiverregion")
    @classmethod
    def _not_to_self(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("senderregion"):
            raise custom_error("sender_equals_receiver")
        return value

    @field_validator("inreplyto")
    @classmethod
    def _reply_rules(cls, value: str | None, info: ValidationInfo) -> str | None:
        type_ = info.data.get("type")
        if type_ is not None:
            is_reply = message_type_of(type_) in REPLY_TYPES
            if is_reply and value is None:
                raise custom_error("inreplyto_required")
            if not is_reply and value is not None:
                raise custom_error("inreplyto_forbidden")
        if value is not None and value == info.data.get("id"):
            raise custom_error("inreplyto_self")
        return value

    @classmethod
    def for_message(
        cls,
        message_type: MessageType,
        *,
        sender: str,
        receiver: str,
        inreplyto: str | None = None,
        agreementid: str | None = None,
        schemaversion: str | None = None,
        subject: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        """A new envelope with a fresh UUID id, the current time in China and the usual source/dataschema."""
        mt = MessageType(message_type)
        version = schemaversion or CURRENT_VERSIONS[mt]
        return cls(
            id=id or str(uuid.uuid4()),
            source=source_for(sender),
            type=ce_type(mt),
            schemaversion=version,
            time=time or now_in_china(),
            subject=subject,
            dataschema=dataschema_for(mt, version),
            senderregion=sender,
            receiverregion=receiver,
            inreplyto=inreplyto,
            agreementid=agreementid,
        )
