"""Inter-region cooperation agreements (区域协作协议): who owes feedback within how many days.

Without an agreement a receiver owes feedback within 5 working days (seed 002:
对异地提交的信息应在5个工作日完成反馈); agreements between regions may set other
deadlines per message type, and may set deadlines for the sender too (two-way
assessment: a birth notified within N working days of the birth).

Coverage. Parties are areas at any level, written as 6-digit codes ("320000"
Jiangsu, "320300" Xuzhou, "320321" Feng County; "32" and "3203" are accepted
too). An agreement covers a (sender, receiver) pair when the sender lies in one
listed party and the receiver in a *different* listed party, in either
direction. Two counties inside the same party are covered only if the
agreement says ``covers_within_party`` (a province's own rule for its counties
is an agreement with one party and that flag).

Verification requests (协查). A verification request's deadline comes from its urgency, not its type: an
agreement may set ``verification_deadlines`` per urgency (urgent 紧急, expedited 急, certificate_check 证明核验),
resolved exactly as feedback deadlines are; without one the defaults of provincial practice apply, in calendar
days: 15, 30 and 7 (``VERIFICATION_DEFAULTS``). ``feedback_deadlines`` name only the records answered with
feedback.

Resolution, for one message type, at the Asia/Shanghai date of receipt:
1. Candidates: each agreement id's highest version in force that day
   (effective_from <= day <= effective_to; effective_to is the last day, None = open)
   that covers the pair and sets a deadline for that message type.
2. The most specific candidate wins. Specificity of a match = level of the
   sender's party + level of the receiver's party (county 3, prefecture 2,
   province 1); an agreement that matches through several party pairs counts
   its best one. Ties: the later effective_from wins, then the smaller id.
3. No candidate: the default, id "default" version 1, 5 working days (feedback
   side); ``resolve_sender`` gives None (no sender deadline).

Versions are immutable: re-adding the same (id, version) is a no-op, a
different body under an existing (id, version) is refused. A new version
changes only later resolutions; an obligation keeps the (id, version,
deadline) it was opened with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from contracts.message_types import FEEDBACK_TYPES, RECORD_TYPES
from contracts.payloads.verification import Urgency
from exchange.domain.clock import SHANGHAI
from exchange.domain.region_codes import area_level, area_prefix, display_code

#: Message types that open an obligation, as plain strings ("birth", ...).
OBLIGATION_TYPES = frozenset(str(t) for t in RECORD_TYPES)
#: Those an agreement's feedback_deadlines may name (a verification request's deadline goes by its urgency).
FEEDBACK_DEADLINE_TYPES = frozenset(str(t) for t in FEEDBACK_TYPES)
#: Verification urgencies, as plain strings ("urgent", ...).
URGENCIES = frozenset(str(u) for u in Urgency)

DEFAULT_AGREEMENT_ID = "default"
DEFAULT_AGREEMENT_VERSION = 1


class AgreementError(ValueError):
    """An agreement that cannot be accepted (bad field, or a changed body under an existing version)."""


class DeadlineUnit(StrEnum):
    WORKING = "working"  # working days of the receiver's (or sender's) calendar
    CALENDAR = "calendar"  # plain days


@dataclass(frozen=True, slots=True)
class Deadline:
    """N days after the start day (which never counts), ending at 24:00 Asia/Shanghai."""

    days: int
    unit: DeadlineUnit = DeadlineUnit.WORKING

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise AgreementError(f"deadline days must be a whole number >= 1, not {self.days!r}")
        try:
            object.__setattr__(self, "unit", DeadlineUnit(self.unit))
        except ValueError:
            raise AgreementError(f"deadline unit must be 'working' or 'calendar', not {self.unit!r}") from None

    def __str__(self) -> str:
        return f"{self.days} {self.unit.value} day{'s' if self.days != 1 else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"days": self.days, "unit": self.unit.value}

    @classmethod
    def from_value(cls, value: Any) -> Deadline:
        """``{"days": 3, "unit": "working"}``, or a bare number of working days."""
        if isinstance(value, Deadline):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, Mapping) and "days" in value:
            return cls(value["days"], value.get("unit", DeadlineUnit.WORKING))
        raise AgreementError(f"not a deadline: {value!r}")


DEFAULT_DEADLINE = Deadline(5, DeadlineUnit.WORKING)

#: A verification request's deadline when no agreement sets one: provincial practice, calendar days.
VERIFICATION_DEFAULTS: Mapping[str, Deadline] = MappingProxyType({
    Urgency.URGENT.value: Deadline(15, DeadlineUnit.CALENDAR),
    Urgency.EXPEDITED.value: Deadline(30, DeadlineUnit.CALENDAR),
    Urgency.CERTIFICATE_CHECK.value: Deadline(7, DeadlineUnit.CALENDAR),
})


def _deadline_map(value: Mapping[str, Any] | None, what: str,
                  keys: frozenset[str] = FEEDBACK_DEADLINE_TYPES) -> Mapping[str, Deadline]:
    result: dict[str, Deadline] = {}
    for key, raw in (value or {}).items():
        if str(key) not in keys:
            raise AgreementError(f"{what}: unknown key {key!r}; expected one of {sorted(keys)}")
        result[str(key)] = Deadline.from_value(raw)
    return MappingProxyType(result)


@dataclass(frozen=True)
class Agreement:
    id: str
    version: int
    name: str
    parties: tuple[str, ...]  # as written, 6-digit codes ("320000"); matching uses their prefixes
    effective_from: date
    effective_to: date | None = None  # last day in force, inclusive; None = until further notice
    feedback_deadlines: Mapping[str, Deadline] = field(default_factory=dict)
    sender_deadlines: Mapping[str, Deadline] = field(default_factory=dict)
    covers_within_party: bool = False
    verification_deadlines: Mapping[str, Deadline] = field(default_factory=dict)  # per urgency

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip() or self.id == DEFAULT_AGREEMENT_ID:
            raise AgreementError(f"agreement id must be a non-empty string other than {DEFAULT_AGREEMENT_ID!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise AgreementError(f"{self.id}: version must be a whole number >= 1")
        parties = (self.parties,) if isinstance(self.parties, str) else tuple(self.parties)
        if not parties:
            raise AgreementError(f"{self.id}: an agreement needs at least one party")
        try:
            prefixes = tuple(area_prefix(p) for p in parties)
        except ValueError as exc:
            raise AgreementError(f"{self.id}: {exc}") from None
        if "" in prefixes:
            raise AgreementError(f"{self.id}: a party must be a province, prefecture or county, not the whole country")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise AgreementError(f"{self.id}: effective_to is before effective_from")
        object.__setattr__(self, "parties", tuple(display_code(p) for p in prefixes))
        object.__setattr__(self, "_prefixes", prefixes)
        object.__setattr__(self, "feedback_deadlines", _deadline_map(self.feedback_deadlines, self.id))
        object.__setattr__(self, "sender_deadlines", _deadline_map(self.sender_deadlines, self.id))
        object.__setattr__(self, "verification_deadlines",
                           _deadline_map(self.verification_deadlines, self.id, URGENCIES))

    def __hash__(self) -> int:
        return hash((self.id, self.version))

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def specificity(self, sender: str, receiver: str) -> int | None:
        """Best level sum over the party pairs that cover (sender, receiver); None if it doesn't cover them."""
        s, r = area_prefix(sender), area_prefix(receiver)
        prefixes: tuple[str, ...] = self._prefixes  # type: ignore[attr-defined]
        best: int | None = None
        for i, p in enumerate(prefixes):
            if not s.startswith(p):
                continue
            for j, q in enumerate(prefixes):
                if r.startswith(q) and (i != j or self.covers_within_party):
                    score = area_level(p) + area_level(q)
                    best = score if best is None else max(best, score)
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "parties": list(self.parties),
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "feedback_deadlines": {k: d.to_dict() for k, d in sorted(self.feedback_deadlines.items())},
            "sender_deadlines": {k: d.to_dict() for k, d in sorted(self.sender_deadlines.items())},
            "covers_within_party": self.covers_within_party,
        } | ({"verification_deadlines": {k: d.to_dict() for k, d in sorted(self.verification_deadlines.items())}}
             if self.verification_deadlines else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agreement:
        try:
            effective_to = data.get("effective_to")
            return cls(
                id=data["id"],
                version=data["version"],
                name=data.get("name", ""),
                parties=tuple(data["parties"]),
                effective_from=date.fromisoformat(data["effective_from"]),
                effective_to=date.fromisoformat(effective_to) if effective_to else None,
                feedback_deadlines=data.get("feedback_deadlines") or {},
                sender_deadlines=data.get("sender_deadlines") or {},
                covers_within_party=bool(data.get("covers_within_party", False)),
                verification_deadlines=data.get("verification_deadlines") or {},
            )
        except (KeyError, TypeError) as exc:
            raise AgreementError(f"bad agreement {data.get('id', '?')!r}: missing or malformed {exc}") from None
        except ValueError as exc:
            if isinstance(exc, AgreementError):
                raise
            raise AgreementError(f"bad agreement {data.get('id', '?')!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which agreement version gave a deadline; an obligation stores all three."""

    agreement_id: str
    version: int
    deadline: Deadline


DEFAULT_RESOLUTION = Resolution(DEFAULT_AGREEMENT_ID, DEFAULT_AGREEMENT_VERSION, DEFAULT_DEADLINE)


def _local_day(at: datetime | date) -> date:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        return at.astimezone(SHANGHAI).date()
    return at


class AgreementBook:
    """Every version of every agreement a node knows."""

    def __init__(self, agreements: Iterable[Agreement] = ()) -> None:
        self._versions: dict[str, dict[int, Agreement]] = {}
        for a in agreements:
            self.add(a)

    def add(self, agreement: Agreement) -> bool:
        """Store a version; True if new, False if that exact version was already known."""
        versions = self._versions.setdefault(agreement.id, {})
        known = versions.get(agreement.version)
        if known is not None:
            if known != agreement:
                raise AgreementError(f"{agreement.id} version {agreement.version} already exists with other terms; "
                                     "publish a new version instead")
            return False
        versions[agreement.version] = agreement
        return True

    def get(self, agreement_id: str, version: int | None = None) -> Agreement | None:
        versions = self._versions.get(agreement_id, {})
        if version is None:
            return versions[max(versions)] if versions else None
        return versions.get(version)

    def __iter__(self):
        for agreement_id in sorted(self._versions):
            for version in sorted(self._versions[agreement_id]):
                yield self._versions[agreement_id][version]

    def __len__(self) -> int:
        return sum(len(v) for v in self._versions.values())

    def in_force(self, at: datetime | date) -> list[Agreement]:
        """For each id, its highest version in force on the Asia/Shanghai day of `at`."""
        day = _local_day(at)
        result = []
        for versions in self._versions.values():
            live = [v for v in versions.values() if v.in_force(day)]
            if live:
                result.append(max(live, key=lambda a: a.version))
        return result

    def _best(self, sender: str, receiver: str, key: str, at: datetime | date, side: str) -> Resolution | None:
        """The most specific agreement in force whose `side` map sets a deadline for `key` (a type, an urgency)."""
        key = str(key)
        best_key: tuple[int, date, str] | None = None
        best: Resolution | None = None
        for agreement in self.in_force(at):
            deadline = getattr(agreement, side).get(key)
            if deadline is None:
                continue
            score = agreement.specificity(sender, receiver)
            if score is None:
                continue
            # Wins: higher specificity, then later effective_from, then the smaller id.
            rank = (score, agreement.effective_from, agreement.id)
            if best_key is None or rank[:2] > best_key[:2] or (rank[:2] == best_key[:2] and rank[2] < best_key[2]):
                best_key, best = rank, Resolution(agreement.id, agreement.version, deadline)
        return best

    def resolve(self, sender: str, receiver: str, message_type: str, at: datetime | date) -> Resolution:
        """The receiver's feedback deadline for a record received at `at`."""
        return self._best(sender, receiver, message_type, at, "feedback_deadlines") or DEFAULT_RESOLUTION

    def resolve_verification(self, sender: str, receiver: str, urgency: str, at: datetime | date) -> Resolution:
        """The receiver's deadline for a verification request of this urgency received at `at` (协查时限)."""
        urgency = str(urgency)
        if urgency not in URGENCIES:
            raise AgreementError(f"unknown urgency {urgency!r}; expected one of {sorted(URGENCIES)}")
        return (self._best(sender, receiver, urgency, at, "verification_deadlines")
                or Resolution(DEFAULT_AGREEMENT_ID, DEFAULT_AGREEMENT_VERSION, VERIFICATION_DEFAULTS[urgency]))

    def resolve_sender(self, sender: str, receiver: str, message_type: str, at: datetime | date) -> Resolution | None:
        """The sender's notification deadline (counted from the event date), or None when no agreement sets one.

        Pass the event date (birth date, check date) as `at`: the agreement in force when the event happened applies.
        """
        return self._best(sender, receiver, message_type, at, "sender_deadlines")

    def to_dicts(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self]

    @classmethod
    def from_dicts(cls, rows: Iterable[Mapping[str, Any]]) -> AgreementBook:
        return cls(Agreement.from_dict(r) for r in rows)


def load_agreements(path: str | Path) -> AgreementBook:
    """Read agreements from a JSON file: a list of agreement objects, or ``{"agreements": [...]}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = data.get("agreements", []) if isinstance(data, Mapping) else data
    return AgreementBook.from_dicts(rows)
