"""送达回执 — delivery receipt, v1.0 and v1.1: sent by a node automatically once it
has durably stored an inbound record, so the sender knows when the feedback clock
started. Machine to machine; carries no personal data. The envelope's
``inreplyto`` names the record stored.

v1.1 adds ``chain_head``: the head of the receiving node's evidence chain when it
stored the record, which the sender keeps, so the receiving node's operator
cannot rewrite its chain unnoticed (``mpx evidence verify --heads``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from contracts.base import ContractModel, MessageId
from contracts.dates import EventTime


class DeliveryReceipt(ContractModel):
    """Delivery receipt (送达回执), payload schema 1.0."""

    received_at: EventTime = Field(description="接收时间 — when the receiving node stored the record (timezone-aware)")
    receiver_node_id: MessageId = Field(description="接收节点 — id of the node that stored the record")


class ChainHead(ContractModel):
    """The last entry of a node's evidence chain (证据链末端)."""

    seq: int = Field(ge=1, le=2**62, description="序号 — sequence number of the entry")
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="哈希 — the entry's SHA-256 chain hash, hexadecimal")


class DeliveryReceipt11(DeliveryReceipt):
    """Delivery receipt (送达回执), payload schema 1.1: 1.0 and the receiving node's evidence chain head."""

    chain_head: ChainHead | None = Field(
        None, description="证据链末端 — the receiving node's evidence chain head when it stored the record")
