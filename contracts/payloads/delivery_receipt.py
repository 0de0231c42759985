"""送达回执 — delivery receipt, v1.0: sent by a node automatically once it has
durably stored an inbound record, so the sender knows when the feedback clock
started. Machine to machine; carries no personal data. The envelope's
``inreplyto`` names the record stored.
"""

from __future__ import annotations

from pydantic import Field

from contracts.base import ContractModel, MessageId
from contracts.dates import EventTime


class DeliveryReceipt(ContractModel):
    """Delivery receipt (送达回执), payload schema 1.0."""

    received_at: EventTime = Field(description="接收时间 — when the receiving node stored the record (timezone-aware)")
    receiver_node_id: MessageId = Field(description="接收节点 — id of the node that stored the record")
