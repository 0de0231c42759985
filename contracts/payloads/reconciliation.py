"""对账 — reconciliation (anti-entropy) control records, v1.0 (digest also v1.1). Machine to machine; no
personal data.

Once a day (and whenever an operator asks), a node tells each peer county what
one of its counties sent that county on one China day: a **digest** with how
many messages, a SHA-256 over their sorted ids, and the ids themselves, in
parts of at most ``MAX_IDS``. The receiver looks up which of those ids it does
not hold and answers with a **resend request** listing them; the sender
publishes those records again from its own store. Silent loss anywhere between
the two databases (broker, disk, a restored backup) becomes visible and heals.

Digest v1.1 adds the sending node's id and its evidence chain head, which the
receiver keeps (as it keeps those of delivery receipts): the sending node's
operator cannot rewrite its chain unnoticed (``mpx evidence verify --heads``).

Ids are opaque message ids, the same ones every record already carries in its
``ce_id`` header; payloads and person fields never appear here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pydantic import Field, model_validator

from contracts.base import ContractModel, MessageId
from contracts.dates import EventDate, EventTime
from contracts.errors import custom_error
from contracts.payloads.delivery_receipt import ChainHead

#: Most ids in one digest part or resend request (keeps a record far below Kafka's 1 MB default).
MAX_IDS = 2000


def ids_sha256(ids: Iterable[str]) -> str:
    """SHA-256 (hex) of the ids sorted by code point, joined by line feeds, UTF-8 encoded."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


class ReconciliationDigest(ContractModel):
    """Reconciliation digest (对账摘要), payload schema 1.0: what the sender sent the receiver on one day."""

    day: EventDate = Field(description="日期 — China day (Asia/Shanghai) on which the sender accepted the messages")
    until: EventTime = Field(description="截至 — the digest covers messages accepted before this instant")
    total: int = Field(ge=0, description="总数 — messages sent to the receiver that day, over all parts")
    part: int = Field(ge=1, description="分片序号 — this part's number, from 1")
    parts: int = Field(ge=1, description="分片总数 — how many parts the day's digest has")
    count: int = Field(ge=0, le=MAX_IDS, description="本片数量 — ids in this part")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="摘要 — SHA-256 of this part's ids, sorted, joined by \\n")
    ids: list[MessageId] = Field(max_length=MAX_IDS, description="消息编号 — the ids of this part, sorted")

    @model_validator(mode="after")
    def _consistent(self) -> ReconciliationDigest:
        if self.part > self.parts or self.count > self.total:
            raise custom_error("digest_part_out_of_range")
        if len(self.ids) != self.count or len(set(self.ids)) != self.count or ids_sha256(self.ids) != self.sha256:
            raise custom_error("digest_inconsistent")
        return self


class ReconciliationDigest11(ReconciliationDigest):
    """Reconciliation digest (对账摘要), payload schema 1.1: 1.0, and the sending node's evidence chain head."""

    sender_node_id: MessageId | None = Field(None, description="发送节点 — id of the node that made the digest")
    chain_head: ChainHead | None = Field(
        None, description="证据链末端 — the sending node's evidence chain head when it made the digest")

    @model_validator(mode="after")
    def _head_names_its_node(self) -> ReconciliationDigest11:
        if self.chain_head is not None and self.sender_node_id is None:
            raise custom_error("digest_inconsistent")
        return self


class ResendRequest(ContractModel):
    """Resend request (补发请求), payload schema 1.0: the receiver lacks these ids of a digest."""

    digest_id: MessageId = Field(description="对账摘要编号 — id of the digest that showed the gap")
    day: EventDate = Field(description="日期 — the digest's day")
    ids: list[MessageId] = Field(min_length=1, max_length=MAX_IDS, description="消息编号 — ids to send again")
