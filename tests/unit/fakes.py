"""In-memory stand-ins for the unit of work, so service rules are tested without SQL (as cosmicpython does)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exchange.adapters.sql.obligation_repository import Kept
from exchange.domain.events import Event
from exchange.domain.obligation import Obligation


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


class FakeUnitOfWork:
    """Records events instead of writing them; `committed` says whether the block ended without an exception."""

    def __init__(self) -> None:
        self.obligations = FakeObligations()
        self.events: list[Event] = []
        self.committed = False
        self.published = 0

    @property
    def conn(self) -> Any:
        raise AssertionError("a domain rule's service touched SQL")

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.committed = exc_type is None

    def record(self, *events: Event) -> None:
        self.events.extend(events)

    async def chain_head(self) -> dict[str, Any] | None:
        return {"seq": len(self.events), "hash": "0" * 64}
