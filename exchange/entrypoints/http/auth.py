"""Authentication and authorization for every non-operational endpoint.

A request carries `Authorization: Bearer <token>`: an API key of this node
(``mpx_<id>_<secret>``), the node's admin token, or a JWT from the office's
identity provider, checked against its JWKS (claims ``mpx_role``,
``mpx_counties``, ``mpx_provinces``; see `principal_from_claims`). Each yields a
principal with a role and a jurisdiction; endpoints require a permission (the
dependencies of `exchange.entrypoints.http.deps`), and the handlers check the
jurisdiction of what is asked. Every principal has a
request budget per minute. No token, key or secret is ever logged or repeated
in a refusal.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi.security import HTTPBearer

from exchange.adapters.api_keys import KeyStore
from exchange.adapters.metrics import HttpMetrics
from exchange.config import Settings
from exchange.domain.principals import Principal, Role
from exchange.domain.problems import Problem

log = logging.getLogger(__name__)

#: Signatures accepted on JWTs: asymmetric only (the JWKS holds public keys; HS256 with a public key as the secret
#: would let anyone sign). The JWK a token names fixes the one algorithm its signature is checked with.
JWT_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
#: Clock difference tolerated between the identity provider and this node on exp, nbf and iat (seconds).
JWT_LEEWAY = 30
#: Claims every accepted JWT carries (iss and aud are also checked against MPX_JWT_ISSUER and MPX_JWT_AUDIENCE).
JWT_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]
_COUNTY = re.compile(r"[0-9]{6}")
_PROVINCE = re.compile(r"[0-9]{2}(0000)?")
_COUNTY_ROLES = (Role.COUNTY_SYSTEM, Role.COUNTY_OPERATOR)


def principal_from_claims(claims: dict[str, Any]) -> Principal | None:
    """The principal a verified JWT's claims describe, or None when they do not describe one fully.

    ``sub`` (a non-empty string) names it; ``mpx_role`` is one of the roles; a county role needs
    ``mpx_counties``, a list of 6-digit county codes; a provincial monitor needs ``mpx_provinces``, a list of
    province codes (``33`` or ``330000``). A jurisdiction claim the role does not use is ignored."""
    sub, role_name = claims.get("sub"), claims.get("mpx_role")
    if not isinstance(sub, str) or not sub or not isinstance(role_name, str):
        return None
    try:
        role = Role(role_name)
    except ValueError:
        return None
    counties: frozenset[str] = frozenset()
    provinces: frozenset[str] = frozenset()
    if role in _COUNTY_ROLES:
        codes = claims.get("mpx_counties")
        if not _codes(codes, _COUNTY):
            return None
        counties = frozenset(codes)
    elif role is Role.PROVINCIAL_MONITOR:
        codes = claims.get("mpx_provinces")
        if not _codes(codes, _PROVINCE):
            return None
        provinces = frozenset(code[:2] for code in codes)
    return Principal(f"jwt:{sub}"[:64], role, counties, provinces)


def _codes(value: Any, pattern: re.Pattern[str]) -> bool:
    """A non-empty list of codes, each matching `pattern` (a bare string is not a list of codes)."""
    return (isinstance(value, list) and 0 < len(value) <= 100
            and all(isinstance(code, str) and pattern.fullmatch(code) for code in value))


bearer = HTTPBearer(auto_error=False, description="An API key (mpx_…), the admin token, or a JWT.")


class RateLimiter:
    """A token bucket per principal (or client address): `per_minute` requests, refilled continuously."""

    #: Buckets kept before those refilled to full are forgotten (a full bucket is the same as none).
    MAX_BUCKETS = 100_000

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.buckets: dict[str, tuple[float, float]] = {}
        self.clock = clock  # seconds, monotonic

    def _tokens(self, who: str, now: float) -> float:
        tokens, last = self.buckets.get(who, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def wait(self, who: str) -> float:
        """0 if `who` has a request left, else the seconds until it has (nothing is taken)."""
        if self.capacity <= 0:
            return 0.0
        tokens = self._tokens(who, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, who: str) -> float:
        """0 if the request may go, else the seconds until it may."""
        if self.capacity <= 0:
            return 0.0
        now = self.clock()
        tokens = self._tokens(who, now)
        if tokens < 1:
            self.buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self.buckets) >= self.MAX_BUCKETS and who not in self.buckets:
            self.buckets = {k: v for k, v in self.buckets.items() if self._tokens(k, now) < self.capacity}
        self.buckets[who] = (tokens - 1, now)
        return 0.0


def rate_limited(wait: float) -> Problem:
    seconds = math.ceil(wait)
    return Problem("rate_limited", f"retry after {seconds} s", f"请 {seconds} 秒后重试",
                   headers={"Retry-After": str(seconds)})


class Auth:
    """Who a bearer token names, within the request budgets; built by the HTTP app factory, used through
    `exchange.entrypoints.http.deps`. `metrics` counts the refusals of requests without a valid credential."""

    def __init__(self, settings: Settings, keys: KeyStore, metrics: HttpMetrics):
        self.settings = settings
        self.keys = keys
        self.metrics = metrics
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        # Failed authentications per client address: spent by each 401, checked before any credential is looked at.
        self.refusals = RateLimiter(settings.address_refusals_per_minute)
        self._jwks = None
        if settings.jwt_jwks_url:
            from jwt import PyJWKClient

            # The key set is kept for jwt_jwks_cache_seconds, then fetched again, so a key the identity provider
            # drops stops working here. (No per-key cache: PyJWT's would keep a dropped key for good.) A token naming
            # an unknown key id fetches the set again at most every 30 s.
            self._jwks = PyJWKClient(settings.jwt_jwks_url, cache_keys=False,
                                     lifespan=settings.jwt_jwks_cache_seconds, timeout=10)

    async def principal(self, token: str | None, address: str | None = None) -> Principal:
        """The principal `token` names, for a request from client `address` (None: not known)."""
        if address is not None and (wait := self.refusals.wait(address)):
            self._anonymous("address_limited")
            raise rate_limited(wait)
        if not token:
            self._refused(address, "no_credential")
            raise Problem("unauthenticated", headers={"WWW-Authenticate": "Bearer"})
        principal: Principal | None = None
        if token.startswith("mpx_"):
            principal = await self.keys.authenticate(token)
        elif (admin := self.settings.admin_token.get_secret_value()) and hmac.compare_digest(token.encode(),
                                                                                             admin.encode()):
            principal = Principal("admin-token", Role.ADMIN)
        elif self._jwks is not None and token.count(".") == 2:
            principal = await asyncio.to_thread(self._from_jwt, token)
        if principal is None:
            self._refused(address, "invalid_credential")
            raise Problem("unauthenticated", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        wait = self.limiter.take(principal.id)
        if wait:
            raise rate_limited(wait)
        return principal

    def _refused(self, address: str | None, reason: str) -> None:
        if address is not None:
            self.refusals.take(address)
        self._anonymous(reason)

    def _anonymous(self, reason: str) -> None:
        self.metrics.anonymous_refusal(reason)

    def _from_jwt(self, token: str) -> Principal | None:
        import jwt

        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("JWKS at %s not reachable (%s): JWTs are refused meanwhile", self.settings.jwt_jwks_url,
                        type(exc).__name__)
            return None
        except jwt.PyJWTError:  # not a JWT, no kid, a key id the identity provider does not publish
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, signing_key, algorithms=JWT_ALGORITHMS, audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer, leeway=JWT_LEEWAY, options={"require": JWT_REQUIRED},
            )
        except jwt.PyJWTError:  # bad signature, expired, not yet valid, another issuer or audience, claims missing
            return None
        return principal_from_claims(claims)


def require_county(principal: Principal, county: str) -> None:
    """403 unless the principal acts for `county`."""
    if not principal.acts_for(county):
        raise Problem("not_your_county", f"this key does not act for {county}", f"此密钥无权代表 {county}")


def jurisdiction(principal: Principal, served: frozenset[str]) -> list[str] | None:
    """The served counties whose operations records (quarantine, reconciliation) the caller may read; None: all of
    them, and the node's own (an admin)."""
    return None if principal.role is Role.ADMIN else counties_for(principal, served)


def counties_for(principal: Principal, served: frozenset[str], county: str | None = None) -> list[str]:
    """The served counties whose messages the caller may read: `county` alone if asked (403 outside them)."""
    if county is None:
        return sorted(c for c in served if principal.acts_for(c))
    if county not in served:
        raise Problem("county_not_served", "that county is not served by this node", "该县区不由本节点服务")
    require_county(principal, county)
    return [county]
