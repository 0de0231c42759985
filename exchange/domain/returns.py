"""A person coming home: a return cancellation (返回注销) supersedes the outflow registration (外出登记) of the same
person, which then owes no more feedback.

The person is recognised without keeping their ID number: by a keyed hash of it (the person key), or by the
registration the cancellation names (``outflow_message_id``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exchange.domain.obligation import Obligation


def person_key(secret: bytes, data: dict[str, Any]) -> str | None:
    """The keyed hash (HMAC-SHA256) of a payload's ID number; None for a payload that names no person."""
    person = data.get("person")
    number = person.get("id_number") if isinstance(person, dict) else None
    if not number:
        return None
    return hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Registration:
    """An outflow registration still open: who sent it to whom, and whose person it is."""

    sender: str
    receiver: str
    message_id: str
    person_key: str | None

    @property
    def key(self) -> tuple[str, str]:
        return self.sender, self.message_id


@dataclass(frozen=True)
class Return:
    """A return cancellation just received: the registration it names, if any, and its person's key."""

    obligation: Obligation
    names: str | None
    person_key: str | None


def superseded(returns: Sequence[Return], open_registrations: Sequence[Registration],
               batch: Sequence[tuple[str, str]]) -> list[tuple[Registration, Return]]:
    """Which open registrations each return cancellation supersedes: those of the same person (or the one it
    names) between the same two counties, received before it. One that came later in the same batch (the person
    left again) stays open; each is superseded once. `batch`: the (sender, id) of the batch's records in order."""
    position = {record: i for i, record in enumerate(batch)}  # earlier records: -1
    done: set[tuple[str, str]] = set()
    found = []
    for ret in returns:
        ob = ret.obligation
        for reg in open_registrations:
            if (reg.key in done or (reg.sender, reg.receiver) != (ob.sender, ob.receiver)
                    or position.get(reg.key, -1) > position[(ob.sender, ob.message_id)]
                    or not (reg.message_id == ret.names
                            or (ret.person_key is not None and reg.person_key == ret.person_key))):
                continue
            done.add(reg.key)
            found.append((reg, ret))
    return found
