"""Bodies a local system would POST, built from the contract examples (`mpx example`): what a newcomer pastes."""

from __future__ import annotations

from typing import Any

from contracts.examples import REGIONS, example_payload, feedback_example
from contracts.message_types import MessageType

#: Record types whose sender is the registration county (户籍地); the others are sent by the residence county.
FROM_REGISTRATION = (MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION)
RECORDS = (*FROM_REGISTRATION, MessageType.PREGNANCY_CHECK, MessageType.BIRTH)
STATUSES = ("received", "confirmed", "not_found", "moved_on", "rejected")


class ExampleRefused(ValueError):
    """An example that cannot be built; the message in English, `zh` in Chinese."""

    def __init__(self, en: str, zh: str):
        super().__init__(en)
        self.zh = zh


def submission(message_type: str, *, sender: str, receiver: str, message_id: str | None = None,
               status: str = "confirmed", seed: int = 0) -> dict[str, Any]:
    """A complete, valid body: a record for POST /v1/messages, or (``feedback``) an answer for its feedback route."""
    if message_type == MessageType.FEEDBACK:
        if status not in STATUSES:
            raise ExampleRefused(f"status must be one of {', '.join(STATUSES)}",
                                 f"反馈状态必须是 {', '.join(STATUSES)} 之一")
        body: dict[str, Any] = {"data": feedback_example(seed, status=status, sender=sender)}
        return {"id": message_id, **body} if message_id else body
    if message_type not in RECORDS:
        names = ", ".join([*RECORDS, MessageType.FEEDBACK])
        raise ExampleRefused(f"no example of {message_type!r}; one of {names}", f"没有该报文类型的示例; 可选 {names}")
    if sender not in REGIONS or receiver not in REGIONS or sender == receiver:
        raise ExampleRefused(f"--from and --to must be two different counties of {', '.join(REGIONS)}",
                             f"--from 和 --to 必须是 {', '.join(REGIONS)} 中两个不同的县")
    registration, residence = (sender, receiver) if message_type in FROM_REGISTRATION else (receiver, sender)
    data = example_payload(message_type, seed=seed, registration_region=registration, residence_region=residence)
    head = {"id": message_id} if message_id else {}
    return {**head, "type": message_type, "schema_version": "1.0", "sender": sender, "receiver": receiver,
            "data": data}
