"""The steps of a verification request (协查), in the order the offices work it.

received (the request is stored) → matched against the local file (配对: found or not) → verified (核实: visit,
phone, records) → answered (协查反馈, with the findings). A person not found on matching may be answered at once.
Each step is taken once; a step out of that order, or again, is refused and changes nothing.

A step's message id is derived from the request and the step (``step_id``): the steps a county took on a request
are known from the ids it sent, without opening their sealed payloads, and a step sent twice is the same message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

RECEIVED = "received"
MATCHED = "matched"
VERIFIED = "verified"
ANSWERED = "answered"

#: Steps in their order, with their Chinese names.
STEPS = {RECEIVED: "已接收", MATCHED: "配对", VERIFIED: "核实", ANSWERED: "协查反馈"}

_NAMESPACE = uuid.UUID("0b6f3c1e-5d0a-4f3e-9d57-6f1f2c9a8e41")


@dataclass(frozen=True)
class Progress:
    """Where a request stands: its last step, and whether matching found the person (None before matching)."""

    step: str = RECEIVED
    found: bool | None = None

    def allows(self, step: str) -> bool:
        """Whether `step` may be taken next: the one after the last, or answered straight after not found."""
        order = list(STEPS)
        if step not in order or step == RECEIVED:
            return False
        following = order.index(step) == order.index(self.step) + 1
        return following or (step == ANSWERED and self.step == MATCHED and self.found is False)


def step_id(county: str, request_id: str, step: str, found: bool | None = None) -> str:
    """The id of the step `step` that `county` took on request `request_id` (a match names what it found)."""
    name = f"{step}:{'found' if found else 'not_found'}" if step == MATCHED else step
    return str(uuid.uuid5(_NAMESPACE, f"verification/{county}/{request_id}/{name}"))


def candidate_ids(county: str, request_id: str) -> dict[str, Progress]:
    """Every step id `county` could have sent on `request_id`, and the progress each one means."""
    return {
        step_id(county, request_id, MATCHED, True): Progress(MATCHED, True),
        step_id(county, request_id, MATCHED, False): Progress(MATCHED, False),
        step_id(county, request_id, VERIFIED): Progress(VERIFIED),
        step_id(county, request_id, ANSWERED): Progress(ANSWERED),
    }


def progress(county: str, request_id: str, sent: set[str]) -> Progress:
    """The progress of `request_id` at `county` from the step ids it sent: its furthest step (and the match's
    finding)."""
    reached = [p for i, p in candidate_ids(county, request_id).items() if i in sent]
    if not reached:
        return Progress()
    order = list(STEPS)
    furthest = max(reached, key=lambda p: order.index(p.step))
    found = next((p.found for p in reached if p.step == MATCHED), None)
    return Progress(furthest.step, found)
