"""People's accounts and sessions in the node's (or monitor's) database: `mpx users add`, signing in and out of
the pages.

An account is checked as an API key is (`check_grant`: the counties this node serves, the provinces this monitor
oversees, the role allowed here) and its creation leaves a `person_added` line in the evidence chain. A wrong
password counts; `lockout_attempts` of them in a row lock the account for `lockout_minutes` (`person_locked`).
A session is a random token in a cookie whose SHA-256 is kept here with its expiry and its CSRF token: signing
out or expiry ends it on the server.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.adapters.api_keys import GrantRefused, check_grant
from exchange.adapters.api_keys import _error as field_error  # the same field errors as a key's
from exchange.adapters.crypto.passwords import hash_password, verify
from exchange.adapters.sql.tables import people, person_sessions
from exchange.adapters.unit_of_work import SqlUnitOfWorkFactory
from exchange.domain.clock import utcnow
from exchange.domain.events import Noted
from exchange.domain.people import API_ROLE, PERSON_ROLES_HERE, Person, PersonRole

if TYPE_CHECKING:
    from exchange.config import Settings

_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


def check_person(settings: Settings, *, account: str, role: str, name: str, counties: list[str],
                 provinces: list[str], password: str) -> Person:
    """The person asked for, or GrantRefused with field errors (both languages, never the value given)."""
    errors: list[dict[str, str]] = []
    if not _ACCOUNT.fullmatch(account or ""):
        errors.append(field_error("account", "invalid_account", "2 to 64 of a-z, 0-9, dot, dash, underscore",
                             "应为 2 至 64 个小写字母、数字、点、短横线或下划线"))
    allowed = PERSON_ROLES_HERE[settings.role]
    person_role = next((r for r in allowed if r.value == role), None)
    if person_role is None:
        errors.append(field_error("role", "role_not_here", "a role of this node: " + ", ".join(allowed),
                             "本节点可设的角色：" + "、".join(allowed)))
    if len(password) < settings.web_password_min_length:
        errors.append(field_error("password", "too_short", f"at least {settings.web_password_min_length} characters",
                             f"至少 {settings.web_password_min_length} 个字符"))
    grant = None
    try:  # counties, provinces and the name follow the rules of an API key of the same powers
        grant = check_grant(settings, role=API_ROLE[person_role or allowed[0]].value, name=name, counties=counties,
                            provinces=provinces)
    except GrantRefused as refused:
        errors += refused.errors
    if errors or grant is None or person_role is None:
        raise GrantRefused(errors)
    return Person(account, grant.name, person_role, grant.counties, grant.provinces)


class SignInRefused(Exception):
    """Wrong account or password (`locked` False), or an account locked now (`locked` True)."""

    def __init__(self, locked: bool):
        super().__init__("locked" if locked else "wrong account or password")
        self.locked = locked


@dataclass(frozen=True)
class Session:
    person: Person
    csrf_token: str
    expires_at: datetime


class PersonStore:
    """Accounts and sessions; `settings` gives the lockout and the session's length."""

    def __init__(self, engine: AsyncEngine, uow: SqlUnitOfWorkFactory, settings: Settings):
        self.engine = engine
        self.uow = uow
        self.settings = settings

    async def add(self, person: Person, password: str, *, by: str) -> bool:
        """Add `person` (False: the account exists; nothing changes), with its `person_added` evidence line."""
        hashed = hash_password(password)
        async with self.uow() as uow:
            if await uow.conn.scalar(select(people.c.account).where(people.c.account == person.account)):
                return False
            await uow.conn.execute(insert(people).values(
                account=person.account, name=person.name, role=person.role.value,
                counties=",".join(sorted(person.counties)), provinces=",".join(sorted(person.provinces)),
                password_hash=hashed, failed_attempts=0, created_at=utcnow()))
            uow.record(Noted("person_added", principal=by[:64], detail={
                "account": person.account, "role": person.role.value, "counties": sorted(person.counties),
                "provinces": sorted(person.provinces)}))
        return True

    async def list(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(people).order_by(people.c.account))).all()
        return [{"account": r.account, "name": r.name, "role": r.role, "counties": _split(r.counties),
                 "provinces": _split(r.provinces), "locked_until": r.locked_until} for r in rows]

    async def sign_in(self, account: str, password: str) -> tuple[str, Session]:
        """A new session (its cookie token, shown once, and what it holds), or SignInRefused."""
        now = utcnow()
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(people).where(people.c.account == account))).first()
        ok = verify(row.password_hash if row is not None else None, password)
        if row is None or row.disabled_at is not None:
            raise SignInRefused(False)
        if row.locked_until is not None and row.locked_until > now:
            raise SignInRefused(True)
        if not ok:
            await self._failed(account)
            raise SignInRefused(False)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + timedelta(minutes=self.settings.web_session_minutes)
        async with self.uow() as uow:
            await uow.conn.execute(update(people).where(people.c.account == account)
                                   .values(failed_attempts=0, locked_until=None))
            await uow.conn.execute(insert(person_sessions).values(
                token_hash=_hash(token), account=account, csrf_token=csrf, created_at=now, expires_at=expires))
            uow.record(Noted("signed_in", principal=f"person:{account}"[:64]))
        return token, Session(_person(row), csrf, expires)

    async def _failed(self, account: str) -> None:
        """One more wrong password; the one that reaches the limit locks the account (with its evidence line)."""
        async with self.uow() as uow:
            failed = await uow.conn.scalar(update(people).where(people.c.account == account)
                                           .values(failed_attempts=people.c.failed_attempts + 1)
                                           .returning(people.c.failed_attempts))
            if failed is not None and failed >= self.settings.web_lockout_attempts:
                until = utcnow() + timedelta(minutes=self.settings.web_lockout_minutes)
                await uow.conn.execute(update(people).where(people.c.account == account)
                                       .values(failed_attempts=0, locked_until=until))
                uow.record(Noted("person_locked", principal=f"person:{account}"[:64],
                                 detail={"until": until.isoformat()}))

    async def session(self, token: str) -> Session | None:
        """The live session a cookie token names: not ended, not expired, its person still enabled."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(person_sessions, people).join(people, people.c.account == person_sessions.c.account)
                .where(person_sessions.c.token_hash == _hash(token)))).first()
        if row is None or row.ended_at is not None or row.expires_at <= utcnow() or row.disabled_at is not None:
            return None
        return Session(_person(row), row.csrf_token, row.expires_at)

    async def sign_out(self, token: str) -> None:
        async with self.uow() as uow:
            account = await uow.conn.scalar(update(person_sessions).where(
                person_sessions.c.token_hash == _hash(token), person_sessions.c.ended_at.is_(None))
                .values(ended_at=utcnow()).returning(person_sessions.c.account))
            if account is not None:
                uow.record(Noted("signed_out", principal=f"person:{account}"[:64]))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _person(row: Any) -> Person:
    return Person(row.account, row.name, PersonRole(row.role), frozenset(_split(row.counties)),
                  frozenset(p[:2] for p in _split(row.provinces)))


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]
