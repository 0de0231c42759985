"""CloudEvents 1.0 Kafka protocol binding, binary content mode.

Attributes travel as ``ce_<name>`` headers (UTF-8), the event data is the record
value as JSON, ``content-type`` carries ``datacontenttype``. Any CloudEvents SDK or
``kcat`` can read these records.

Part of the exchange standard, beside the envelope (`contracts.envelope`): it is how every node's records look
on the shared topics. Pure: it reads and writes header tuples and bytes, with no Kafka client. The node's Kafka
adapters use it through `contracts.cloudevents`; the record signing of the crypto adapters (which
signs the attributes and the data) uses it from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from contracts.envelope import Envelope

CONTENT_TYPE = "content-type"
_PREFIX = "ce_"


def to_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    return attribute_headers(envelope.model_dump(mode="json", exclude_none=True))


def attribute_headers(attrs: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Kafka headers of an envelope already dumped to JSON form (``model_dump(mode="json", exclude_none=True)``)."""
    headers = [(CONTENT_TYPE, attrs.get("datacontenttype", "application/json").encode())]
    headers += [(_PREFIX + name, str(value).encode()) for name, value in attrs.items() if name != "datacontenttype"]
    return headers


def envelope_attributes(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> dict[str, Any]:
    """The CloudEvents attributes found in Kafka headers (undecoded values raise UnicodeDecodeError)."""
    attrs: dict[str, Any] = {}
    for name, value in headers:
        if name == CONTENT_TYPE:
            attrs["datacontenttype"] = value.decode()
        elif name.startswith(_PREFIX):
            attrs[name[len(_PREFIX) :]] = value.decode()
    return attrs


def from_record(headers, value: bytes) -> tuple[Envelope, dict[str, Any]]:  # noqa: ANN001 - aiokafka header tuple
    """Decode one record; raises ValueError/ValidationError for anything undecodable."""
    envelope = Envelope.model_validate(envelope_attributes(headers))
    data = orjson.loads(value)
    if not isinstance(data, dict):
        raise ValueError("event data is not a JSON object")
    return envelope, data


def encode_data(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=_default)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
