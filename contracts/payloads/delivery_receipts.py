"""批量送达回执 — delivery receipts, v1.0: one signed record by which a receiving node acknowledges every record of
one sending county it stored in one consumer batch (a single ``delivery_receipt`` per record was about a third of
the end-to-end work). Machine to machine; carries no personal data, only the ids the sender gave its records.

Sent by the receiving county to the sending county, without ``inreplyto`` (it names many records): ``ids`` lists
them, at most ``MAX_IDS`` a record (a longer batch goes in several, each a receipt of its own, far below Kafka's
1 MB record limit). The sender moves only records it sent the receipt's sender to ``delivered``: a receipt naming
any other is quarantined whole. ``chain_head`` is the receiving node's evidence chain head once the records were
stored, as ``delivery_receipt`` 1.1 carries it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.base import ContractModel, MessageId
from contracts.dates import EventTime
from contracts.errors import custom_error
from contracts.payloads.delivery_receipt import ChainHead
from contracts.payloads.reconciliation import MAX_IDS


class DeliveryReceipts(ContractModel):
    """Delivery receipts (批量送达回执), payload schema 1.0: the records of one sender stored in one batch."""

    received_at: EventTime = Field(description="接收时间 — when the receiving node stored the records (timezone-aware)")
    receiver_node_id: MessageId = Field(description="接收节点 — id of the node that stored the records")
    ids: list[MessageId] = Field(min_length=1, max_length=MAX_IDS,
                                 description="消息编号 — ids of the records stored, as their sender gave them")
    chain_head: ChainHead | None = Field(
        None, description="证据链末端 — the receiving node's evidence chain head when it stored the records")

    @model_validator(mode="after")
    def _each_id_once(self) -> DeliveryReceipts:
        if len(set(self.ids)) != len(self.ids):
            raise custom_error("receipt_ids_repeated")
        return self
