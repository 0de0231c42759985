"""The monthly roster check (定期清查), as rules: which month may be checked, who is on a roster, what the residence
county finds of each person, and what each side is to do about a discrepancy.

The registration county's roster lists its outflow registrations (外出登记) to a residence county that no return
cancellation (返回注销) cancelled and it did not withdraw. The residence county answers each entry from what it holds
of that registration: its latest feedback says whether the person is still here, left, or never arrived. Every
finding but still_here is a discrepancy both offices follow up; a later return cancellation resolves it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from contracts.payloads.roster import RosterFinding

_ROSTER_NAMESPACE = uuid.UUID("9a3e51f0-2c4d-4f7b-8e61-0d5b7c2a9e34")

#: Registration county (sent the roster), residence county (answered it).
REGISTRATION, RESIDENCE = "registration", "residence"

#: What each side is to do about a finding that is not still_here (Chinese, English).
NEXT_STEPS: dict[tuple[str, RosterFinding], tuple[str, str]] = {
    (REGISTRATION, RosterFinding.LEFT): (
        "已离开未注销：请核实去向并发送返回注销", "left without a cancellation: verify and send a return cancellation"),
    (REGISTRATION, RosterFinding.NEVER_ARRIVED): (
        "未到达：请核实是否返回或改往他处并发送返回注销",
        "never arrived: verify whether the person came home or went elsewhere and send a return cancellation"),
    (REGISTRATION, RosterFinding.UNKNOWN): (
        "情况不明：请与现居住地核实，如已返回请发送返回注销",
        "unknown at the residence county: verify with it, and send a return cancellation if the person came home"),
    (RESIDENCE, RosterFinding.LEFT): (
        "离开未报告：请向户籍地核实并督促其注销", "departure not reported: confirm with the registration county"),
    (RESIDENCE, RosterFinding.NEVER_ARRIVED): (
        "未到达：请核查本地是否有此人", "never arrived: check the local file for the person"),
    (RESIDENCE, RosterFinding.UNKNOWN): (
        "情况不明：请核实此人现状并反馈", "unknown: verify the person's situation and send feedback"),
}


def roster_id(registration: str, residence: str, month: str, part: int = 1) -> str:
    """The roster of `month` from `registration` to `residence` (its `part`): one per month and pair, so a second
    run is recognised as the first."""
    return str(uuid.uuid5(_ROSTER_NAMESPACE, f"roster/{registration}/{residence}/{month}"
                                             + (f"/{part}" if part > 1 else "")))


def in_parts(entries: Sequence[dict[str, Any]], size: int) -> list[Sequence[dict[str, Any]]]:
    """A roster's entries in parts of at most `size` (one roster message each)."""
    return [entries[i:i + size] for i in range(0, len(entries), size)]


def roster_answer_id(residence: str, roster: str) -> str:
    """The answer of `residence` to roster `roster`: one per roster."""
    return str(uuid.uuid5(_ROSTER_NAMESPACE, f"answer/{residence}/{roster}"))


def cutoff(month: str, cutoff_day: int) -> date:
    """The day from which `month` (YYYY-MM) may be checked."""
    year, number = (int(p) for p in month.split("-"))
    return date(year, number, cutoff_day)


def is_closed(month: str, today: date, cutoff_day: int) -> bool:
    """Whether `month` may be checked on `today` (China): on or after its cut-off day."""
    return today >= cutoff(month, cutoff_day)


def latest_closed(today: date, cutoff_day: int) -> str:
    """The newest month that may be checked on `today`: this month once its cut-off day came, else the last."""
    if today.day >= cutoff_day:
        return f"{today.year:04d}-{today.month:02d}"
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class Return(NamedTuple):
    """A return cancellation as it resolves discrepancies: between which counties, naming which registration or
    person (its keyed hash), sent as which message."""

    registration_county: str
    residence_county: str
    registration_id: str | None
    person_key: str | None
    by: str


@dataclass(frozen=True)
class Registered:
    """An outflow registration the registration county sent (in the order it sent them)."""

    sender: str
    receiver: str
    message_id: str
    person: dict[str, Any]


@dataclass(frozen=True)
class Cancelled:
    """A return cancellation the registration county sent: the registration it names, if any, and its person."""

    sender: str
    receiver: str
    names: str | None
    id_number: str | None
    #: How many registrations (of all, in order) the county had sent before it.
    after: int


def rosters(registrations: Sequence[Registered], cancellations: Iterable[Cancelled]
            ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The roster entries per (registration county, residence county): every registration (not withdrawn; the
    caller leaves those out) that no later return cancellation between the same two counties names or names the
    person of. A registration sent after the cancellation (the person left again) stays on."""
    cancelled: set[int] = set()
    for c in cancellations:
        for i, reg in enumerate(registrations[:c.after]):
            if (reg.sender, reg.receiver) == (c.sender, c.receiver) and (
                    reg.message_id == c.names or (c.id_number and reg.person.get("id_number") == c.id_number)):
                cancelled.add(i)
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i, reg in enumerate(registrations):
        if i not in cancelled:
            found.setdefault((reg.sender, reg.receiver), []).append(
                {"registration_id": reg.message_id, "person": reg.person})
    return found


def finding(received: bool, cancelled: bool, feedback: dict[str, Any] | None) -> dict[str, Any]:
    """What the residence county answers about one entry: from the registration it received (not cancelled) and
    its own latest feedback to it. Received but not answered yet, cancelled, or answered rejected: unknown."""
    status = (feedback or {}).get("status")
    if not received or cancelled or status is None:
        return {"finding": RosterFinding.UNKNOWN.value}
    if status in ("confirmed", "received"):
        return {"finding": RosterFinding.STILL_HERE.value}
    if status == "moved_on":
        return {"finding": RosterFinding.LEFT.value, "new_region": feedback["new_region"]}  # type: ignore[index]
    if status == "not_found":
        return {"finding": RosterFinding.NEVER_ARRIVED.value}
    return {"finding": RosterFinding.UNKNOWN.value}


def counts(findings: Iterable[str]) -> dict[str, int]:
    """The figures of one answered roster: entries and how many of each finding."""
    tally = Counter(findings)
    return {"entries": sum(tally.values()), **{f.value: tally[f.value] for f in RosterFinding}}


def match_rate(still_here: int, entries: int) -> float | None:
    """清查匹配率: the share of the persons on a roster still living where the registration county believed (None for
    an empty roster), to four places."""
    return round(still_here / entries, 4) if entries else None


def next_step(side: str, found: str) -> tuple[str, str]:
    """What `side` is to do about a discrepancy (Chinese, English)."""
    return NEXT_STEPS[(side, RosterFinding(found))]
