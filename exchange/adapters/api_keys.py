"""API keys in the node's database: created by the CLI or an admin, checked on every request.

`mpx keys create` and ``POST /v1/admin/keys`` take the same path: `check_grant` turns what was asked (role,
counties or provinces, name, days) into a `KeyGrant` or refuses it with field errors, and `KeyStore.create`
stores the key and its `key_created` line of the evidence chain in one transaction (`revoke` likewise,
`key_revoked`). The evidence names the key id, role and jurisdiction and who acted, never the secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import is_county, is_region
from exchange.adapters.crypto import apikeys
from exchange.adapters.sql.dialect import insert_ignoring_duplicates
from exchange.adapters.sql.tables import api_keys
from exchange.adapters.unit_of_work import SqlUnitOfWorkFactory
from exchange.domain.clock import utcnow
from exchange.domain.events import Noted
from exchange.domain.principals import Principal, Role

if TYPE_CHECKING:
    from exchange.config import Settings

#: Roles whose keys act for counties; the provincial monitor's oversee provinces; the others neither.
COUNTY_ROLES = frozenset({Role.COUNTY_SYSTEM, Role.COUNTY_OPERATOR})
#: Roles a key may be given on a node and on a monitor: a key with nothing to call there is a mistake.
ROLES_HERE = {
    "node": (Role.COUNTY_SYSTEM, Role.COUNTY_OPERATOR, Role.ADMIN),
    "monitor": (Role.PROVINCIAL_MONITOR, Role.NATIONAL_MONITOR, Role.ADMIN),
}
#: Longest validity of a key, in days (ten years); the CLI and the admin endpoint default to 365.
MAX_DAYS = 3650
#: Longest holder name (the column's length).
MAX_NAME = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class KeyGrant:
    """A key as it may be made on this node: checked by `check_grant`."""

    name: str
    role: Role
    counties: frozenset[str]
    provinces: frozenset[str]  # 2-digit province prefixes
    expires_at: datetime


class GrantRefused(ValueError):
    """What was asked for a key breaks a rule; `errors` are problem-JSON field errors (field, code, both languages),
    which never repeat a submitted value."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def _error(field: str, code: str, message: str, message_zh: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message, "message_zh": message_zh}


def check_grant(settings: Settings, *, role: str, name: str, counties: Iterable[str] = (),
                provinces: Iterable[str] = (), days: int = 365, now: datetime | None = None) -> KeyGrant:
    """The key `role`, `counties`/`provinces`, `name` and `days` ask for, on this node or monitor, or GrantRefused.

    A county key (county_system, county_operator) names at least one county, each a real county-level GB/T 2260
    code this node serves; a provincial monitor's key names at least one province (``33`` or ``330000``), each a
    real province within this monitor's scope; national monitor and admin keys name neither. A node issues county
    and admin keys, a monitor monitor and admin keys. The name is 1 to 128 characters without control characters;
    a key lasts 1 to 3650 days."""
    errors: list[dict[str, str]] = []
    counties, provinces = list(counties), list(provinces)
    allowed = ROLES_HERE[settings.role]
    try:
        granted: Role | None = Role(role)
    except ValueError:
        granted = None
        errors.append(_error("role", "unknown_role", "not a role: " + ", ".join(r.value for r in Role),
                             "不是有效的角色：" + "、".join(r.value for r in Role)))
    if granted is not None and granted not in allowed:
        errors.append(_error("role", "role_not_here",
                             f"a {settings.role} issues only " + ", ".join(r.value for r in allowed) + " keys",
                             ("县区节点" if settings.role == "node" else "监测节点") + "只签发以下角色的密钥："
                             + "、".join(r.value for r in allowed)))
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or _CONTROL.search(name):
        errors.append(_error("name", "invalid_name", f"1 to {MAX_NAME} characters, no control characters",
                             f"应为 1 至 {MAX_NAME} 个字符，不含控制字符"))
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors.append(_error("days", "invalid_days", f"a whole number of days from 1 to {MAX_DAYS}",
                             f"应为 1 至 {MAX_DAYS} 的整数天数"))
    granted_counties: set[str] = set()
    granted_provinces: set[str] = set()
    if granted in COUNTY_ROLES:
        if not counties:
            errors.append(_error("counties", "missing", f"a {granted} key acts for at least one county",
                                 f"{granted} 密钥至少须指定一个县区"))
        for i, county in enumerate(counties):
            if not (isinstance(county, str) and is_county(county)):
                errors.append(_error(f"counties/{i}", "not_a_county", "not a county-level GB/T 2260 code",
                                     "不是有效的县级行政区划代码"))
            elif county not in settings.served:
                errors.append(_error(f"counties/{i}", "county_not_served", "not a county this node serves",
                                     "该县区不由本节点服务"))
            else:
                granted_counties.add(county)
    elif counties:
        errors.append(_error("counties", "not_for_this_role", "only county keys name counties",
                             "只有县区角色的密钥可指定县区"))
    if granted is Role.PROVINCIAL_MONITOR:
        if not provinces:
            errors.append(_error("provinces", "missing", "a provincial_monitor key oversees at least one province",
                                 "省级监测密钥至少须指定一个省份"))
        for i, province in enumerate(provinces):
            code = province + "0000" if isinstance(province, str) and len(province) == 2 else province
            if not (isinstance(code, str) and len(code) == 6 and code.endswith("0000") and is_region(code)):
                errors.append(_error(f"provinces/{i}", "not_a_province", "not a province code (33 or 330000)",
                                     "不是有效的省级行政区划代码（如 33 或 330000）"))
            elif settings.role == "monitor" and not settings.in_scope(code):
                errors.append(_error(f"provinces/{i}", "province_not_monitored",
                                     "not a province this monitor oversees (MPX_MONITOR_SCOPE)",
                                     "该省份不在本监测节点的范围内"))
            else:
                granted_provinces.add(code[:2])
    elif provinces:
        errors.append(_error("provinces", "not_for_this_role", "only provincial_monitor keys name provinces",
                             "只有省级监测角色的密钥可指定省份"))
    if errors:
        raise GrantRefused(errors)
    assert granted is not None
    return KeyGrant(name, granted, frozenset(granted_counties), frozenset(granted_provinces),
                    (now or utcnow()) + timedelta(days=days))


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    key: str  # shown once, never stored


class KeyStore:
    """Looks keys up by id; a short cache keeps the database off the hot path (revocation takes ≤ `ttl`)."""

    def __init__(self, engine: AsyncEngine, uow: SqlUnitOfWorkFactory, ttl: float = 5.0):
        self.engine = engine
        self.uow = uow  # creating and revoking a key, with its line in the evidence chain
        self.ttl = ttl
        self._cache: dict[str, tuple[float, object]] = {}

    async def issue(self, grant: KeyGrant, *, by: str) -> IssuedKey:
        """A new key as `check_grant` allowed it, made by `by` (a principal id, or ``cli:<user>``)."""
        return await self.create(name=grant.name, role=grant.role, counties=grant.counties,
                                 provinces=grant.provinces, expires_at=grant.expires_at, by=by)

    async def create(self, *, name: str, role: Role, counties: frozenset[str] = frozenset(),
                     provinces: frozenset[str] = frozenset(), expires_at: datetime | None = None,
                     key: str | None = None, by: str | None = None) -> IssuedKey:
        """A new key; pass `key` to register one provisioned elsewhere (e.g. from the environment). With `by`, a
        new key leaves a `key_created` line in the evidence chain, in the same transaction."""
        provisioned = key is not None
        if key is None:
            key_id, key, hashed = apikeys.new_key()
        else:
            parsed = apikeys.parse(key)
            if parsed is None:
                raise ValueError("not an mpx_<id>_<secret> key")
            key_id, hashed = parsed[0], apikeys.hash_secret(parsed[1])
        async with self.uow() as uow:
            conn = uow.conn
            # Replicas starting together register their MPX_BOOTSTRAP_KEY at the same moment: the first insert wins,
            # the others find its row.
            created = (await conn.execute(insert_ignoring_duplicates(conn, api_keys, "key_id").values(
                key_id=key_id, key_hash=hashed, name=name, role=role.value, counties=",".join(sorted(counties)),
                provinces=",".join(sorted(provinces)), created_at=utcnow(), expires_at=expires_at))).rowcount
            existing = None if created else await conn.scalar(
                select(api_keys.c.key_hash).where(api_keys.c.key_id == key_id))
            if created:
                if by is not None:
                    uow.record(Noted("key_created", principal=by[:64], detail={
                        "key_id": key_id, "role": role.value, "counties": sorted(counties),
                        "provinces": sorted(provinces), "expires_at": expires_at.isoformat() if expires_at else None}))
            elif existing != hashed:
                raise ValueError(f"key id {key_id} exists with another secret")
            elif provisioned:  # a key from the environment follows its setting: a new expiry holds from this start
                await conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(expires_at=expires_at))
        return IssuedKey(key_id, key)

    async def revoke(self, key_id: str, *, by: str | None = None) -> bool | None:
        """True: revoked now (with a `key_revoked` line in the evidence chain when `by` is given); False: it was
        revoked already; None: no such key. Every replica stops accepting it within `ttl` seconds."""
        async with self.uow() as uow:
            conn = uow.conn
            now = utcnow()
            result = await conn.execute(update(api_keys).where(api_keys.c.key_id == key_id,
                                                               api_keys.c.revoked_at.is_(None))
                                        .values(revoked_at=now))
            if result.rowcount > 0:
                if by is not None:
                    uow.record(Noted("key_revoked", principal=by[:64], detail={"key_id": key_id}))
                done: bool | None = True
            else:
                exists = await conn.scalar(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id))
                done = False if exists is not None else None
        self._cache.pop(key_id, None)
        return done

    async def get(self, key_id: str) -> dict[str, Any] | None:
        """One key as `list` shows it, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.key_id == key_id))).first()
        return _view(row) if row is not None else None

    async def list(self) -> list[dict[str, Any]]:
        """Every key with its role, jurisdiction and state; never the secret nor its hash."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id))).all()
        return [_view(r) for r in rows]

    async def authenticate(self, key: str) -> Principal | None:
        parsed = apikeys.parse(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        cached = self._cache.get(key_id)
        if cached is None or time.monotonic() - cached[0] > self.ttl:
            async with self.engine.connect() as conn:
                row = (await conn.execute(select(api_keys).where(api_keys.c.key_id == key_id))).first()
            cached = (time.monotonic(), row)
            if row is not None:  # ids of no key are not kept: made-up ids must not grow the cache
                self._cache[key_id] = cached
        row = cached[1]
        if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= utcnow()):
            return None
        if not apikeys.matches(secret, row.key_hash):
            return None
        return Principal(f"key:{key_id}", Role(row.role), frozenset(_split(row.counties)),
                         frozenset(p[:2] for p in _split(row.provinces)))


def _view(r: Any) -> dict[str, Any]:
    return {"key_id": r.key_id, "name": r.name, "role": r.role, "counties": _split(r.counties),
            "provinces": _split(r.provinces), "created_at": r.created_at.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None}


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]
