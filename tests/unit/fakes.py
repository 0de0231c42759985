"""In-memory stand-ins for the unit of work, so service rules are tested without SQL (as cosmicpython does)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from exchange.adapters.sql.obligation_repository import Kept
from exchange.domain.events import Event
from exchange.domain.obligation import Obligation
from exchange.domain.roster import Return


class FakeObligations:
    """The obligations repository as a dict keyed by (sending county, message id)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], Kept] = {}

    async def add(self, opening: Iterable[tuple[Obligation, dict[str, Any] | None, str | None]]
                  ) -> set[tuple[str, str]]:
        new = set()
        for ob, sender_side, person_key in opening:
            if (ob.sender, ob.message_id) not in self.kept:
                self.kept[(ob.sender, ob.message_id)] = Kept(ob, sender_side, 1, person_key)
                new.add((ob.sender, ob.message_id))
        return new

    async def get(self, sender: str, message_id: str) -> Kept | None:
        return self.kept.get((sender, message_id))

    async def open_registrations(self, named: set[str], person_keys: set[str]) -> list[Kept]:
        return [k for k in self.kept.values()
                if k.obligation.message_type == "outflow_registration" and k.obligation.answered_at is None
                and k.obligation.cancelled_at is None
                and (k.obligation.message_id in named or k.person_key in person_keys)]

    async def save(self, kept: Kept, ob: Obligation) -> int:
        self.kept[(ob.sender, ob.message_id)] = Kept(ob, kept.sender_side, kept.revision + 1, kept.person_key)
        return kept.revision + 1


class FakeMessages:
    """The messages repository: rows by (direction, sender, id), as `Outgoing.message_row` makes them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def receive(self, sender: str, receiver: str, message_id: str, type_: str, agreement_id: str | None = None) -> None:
        """A message this node received (what the receiving side would have stored)."""
        self.rows[("in", sender, message_id)] = {"direction": "in", "sender": sender, "receiver": receiver,
                                                 "id": message_id, "type": type_, "agreement_id": agreement_id,
                                                 "answered_at": None}

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.rows[(str(row["direction"]), row["sender"], row["id"])] = dict(row)

    async def sent_hashes(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return {(s, i): self.rows[("out", s, i)]["content_hash"] for s, i in keys if ("out", s, i) in self.rows}

    async def received_from(self, sender: str, receiver: str, message_id: str) -> Any:
        row = self.rows.get(("in", sender, message_id))
        return SimpleNamespace(**{"withdrawn_at": None, **row}) if row and row["receiver"] == receiver else None

    async def received(self, message_id: str, receivers: Iterable[str], sender: str | None = None) -> list[Any]:
        return [SimpleNamespace(**r) for (d, s, i), r in self.rows.items()
                if d == "in" and i == message_id and r["receiver"] in set(receivers) and sender in (None, s)]

    async def mark_answered(self, sender: str, receiver: str, message_id: str, at: datetime) -> None:
        row = self.rows.get(("in", sender, message_id))
        if row and row["receiver"] == receiver and row["answered_at"] is None:
            row.update(state="answered", answered_at=at)

    async def sent(self, message_id: str, senders: Iterable[str], sender: str | None = None) -> list[Any]:
        return [SimpleNamespace(**{"answered_at": None, "withdrawn_at": None, **r})
                for (d, s, i), r in self.rows.items()
                if d == "out" and i == message_id and s in set(senders) and sender in (None, s)]

    async def mark_withdrawn(self, direction: str, sender: str, receiver: str, message_id: str, at: datetime) -> bool:
        row = self.rows.get((str(direction), sender, message_id))
        if row and row["receiver"] == receiver and row.get("answered_at") is None and row.get("withdrawn_at") is None:
            row["withdrawn_at"] = at
            return True
        return False


class FakeRosters:
    """The roster check's repository over the fake messages and obligations; discrepancies and rosters as dicts."""

    def __init__(self, messages: FakeMessages, obligations: FakeObligations) -> None:
        self.messages, self.obligations = messages, obligations
        self.found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.rosters: dict[tuple[str, str, str], dict[str, Any]] = {}  # by side, registration county, roster id

    def _rows(self, direction: str, type_: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(**{"withdrawn_at": None, "in_reply_to": None, **r}) for (d, _, _), r
                in self.messages.rows.items() if d == direction and r["type"] == type_]

    async def sent_registrations(self, senders: Iterable[str]) -> list[Any]:
        return [SimpleNamespace(**r) for (d, s, _), r in self.messages.rows.items()
                if d == "out" and s in set(senders) and r.get("withdrawn_at") is None
                and r["type"] in ("outflow_registration", "return_cancellation")]

    async def holdings(self, sender: str, receiver: str, ids: Sequence[str]) -> tuple[set[str], set[str],
                                                                                        dict[str, Any]]:
        received = {r.id for r in self._rows("in", "outflow_registration")
                    if (r.sender, r.receiver) == (sender, receiver) and r.id in ids}
        cancelled = {i for i in ids if (k := self.obligations.kept.get((sender, i))) and k.obligation.cancelled_at}
        cancelled |= {r.id for r in self._rows("in", "outflow_registration") if r.id in received and r.withdrawn_at}
        latest = {r.in_reply_to: r for r in self._rows("out", "feedback")
                  if (r.sender, r.receiver) == (receiver, sender) and r.in_reply_to in ids}
        return received, cancelled, latest

    async def sent_roster(self, sender: str, receiver: str, roster_id: str) -> Any | None:
        row = self.messages.rows.get(("out", sender, roster_id))
        return SimpleNamespace(**row) if row and row["receiver"] == receiver and row["type"] == "roster" else None

    async def add_discrepancies(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            key = (row["month"], row["side"], row["registration_county"], row["registration_id"])
            self.found.setdefault(key, {"resolved_at": None, "resolved_by": None, **row})

    async def resolve_many(self, side: str, returns: Sequence[Return], at: datetime) -> int:
        return sum([await self.resolve(side, *r, at) for r in returns])

    async def resolve(self, side: str, registration_county: str, residence_county: str, registration_id: str | None,
                      person_key: str | None, by: str, at: datetime) -> int:
        hits = [d for d in self.found.values()
                if (d["side"], d["registration_county"], d["residence_county"]) == (side, registration_county,
                                                                                    residence_county)
                and d["resolved_at"] is None and (d["registration_id"] == registration_id
                                                  or (person_key and d["person_key"] == person_key))]
        for d in hits:
            d.update(resolved_at=at, resolved_by=by)
        return len(hits)

    async def discrepancies(self, counties: Iterable[str], month: str) -> list[Any]:
        counties = set(counties)
        return [SimpleNamespace(**d) for _, d in sorted(self.found.items())
                if d[f"{d['side']}_county"] in counties and d["month"] == month]

    async def keep(self, roster: dict[str, Any]) -> None:
        self.rosters[(roster["side"], roster["registration_county"], roster["roster_id"])] = dict(roster)

    async def answered(self, registration_county: str, roster_id: str, figures: dict[str, Any]) -> None:
        self.rosters[("registration", registration_county, roster_id)].update(figures)

    async def kept(self, counties: Iterable[str], month: str) -> list[Any]:
        return [SimpleNamespace(**r) for r in sorted(self.rosters.values(), key=lambda r: (
            r["registration_county"], r["residence_county"], r["part"], r["side"]))
            if r["month"] == month and r[f"{r['side']}_county"] in set(counties)]


class _NoSQL:
    """The connection of a fake unit of work: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError("a domain rule's service touched SQL")


class FakeUnitOfWork:
    """Records events instead of writing them; `committed` says whether the block ended without an exception."""

    def __init__(self) -> None:
        self.obligations = FakeObligations()
        self.messages = FakeMessages()
        self.rosters = FakeRosters(self.messages, self.obligations)
        self.events: list[Event] = []
        self.committed = False
        self.published = 0

    @property
    def conn(self) -> Any:
        return _NoSQL()

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.committed = exc_type is None

    def record(self, *events: Event) -> None:
        self.events.extend(events)

    async def chain_head(self) -> dict[str, Any] | None:
        return {"seq": len(self.events), "hash": "0" * 64}
