"""What a use case works through: one transaction, its repositories, and the domain events it records.

Services are written against this protocol; the node gives them `SqlUnitOfWork`
(exchange/adapters/unit_of_work.py), the only writer of the outbox and the evidence chain, and the unit tests
give them `FakeUnitOfWork` (tests/unit/fakes.py), which keeps everything in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.obligation_repository import Kept
from exchange.domain.delivery import Direction
from exchange.domain.events import Event
from exchange.domain.obligation import Obligation


class ObligationStore(Protocol):
    async def add(self, opening: Iterable[tuple[Obligation, dict[str, Any] | None, str | None]]
                  ) -> set[tuple[str, str]]: ...
    async def get(self, sender: str, message_id: str) -> Kept | None: ...
    async def open_registrations(self, named: set[str], person_keys: set[str]) -> list[Kept]: ...
    async def save(self, kept: Kept, ob: Obligation) -> int: ...


class MessageStore(Protocol):
    async def add(self, rows: Sequence[dict[str, Any]]) -> None: ...
    async def sent_hashes(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]: ...
    async def received_type(self, sender: str, receiver: str, message_id: str) -> str | None: ...
    async def received(self, message_id: str, receivers: Iterable[str], sender: str | None = None) -> list[Any]: ...
    async def mark_answered(self, sender: str, receiver: str, message_id: str, at: datetime) -> None: ...
    async def sent(self, message_id: str, senders: Iterable[str], sender: str | None = None) -> list[Any]: ...
    async def mark_withdrawn(self, direction: Direction, sender: str, receiver: str, message_id: str,
                             at: datetime) -> bool: ...


class UnitOfWork(Protocol):
    #: Obligations, as a repository.
    obligations: ObligationStore
    #: Messages, as the sending use case keeps them.
    messages: MessageStore
    #: Outbox rows written so far (the relay is woken when this is not 0).
    published: int

    @property
    def conn(self) -> AsyncConnection:
        """The transaction, for the statements of a service's own tables (messages, inbox, quarantine, …)."""
        ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None: ...
    def record(self, *events: Event) -> None: ...
    async def chain_head(self) -> dict[str, Any] | None: ...


#: Makes a fresh unit of work for each use case (services hold one of these, not a unit of work).
UnitOfWorkFactory = Callable[[], UnitOfWork]
