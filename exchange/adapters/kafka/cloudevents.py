"""CloudEvents 1.0 Kafka protocol binding, binary content mode: the node's Kafka adapters' name for
`contracts.cloudevents`, where the binding lives as part of the exchange standard (and where the crypto adapters'
record signing, which must not import the Kafka adapters, reads it)."""

from __future__ import annotations

from contracts.cloudevents import (
    CONTENT_TYPE,
    attribute_headers,
    encode_data,
    envelope_attributes,
    from_record,
    to_headers,
)

__all__ = ["CONTENT_TYPE", "attribute_headers", "encode_data", "envelope_attributes", "from_record", "to_headers"]
