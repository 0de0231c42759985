"""Who is calling, and what each role may do.

Every request is tied to a principal: a role and a jurisdiction (the counties
it speaks for, or the provinces it oversees). The table below is the whole
policy; endpoints name the permission they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    COUNTY_SYSTEM = "county_system"  # a county's local case system: sends as its county, reads, answers
    COUNTY_OPERATOR = "county_operator"  # a person at the county office: reads its own county's messages
    PROVINCIAL_MONITOR = "provincial_monitor"  # aggregates for its province only
    NATIONAL_MONITOR = "national_monitor"  # aggregates for the whole country
    ADMIN = "admin"  # keys, agreements, calendars, quarantine replay


class Permission(StrEnum):
    SEND = "send"
    READ = "read"
    ANSWER = "answer"
    MONITOR = "monitor"
    ADMIN = "admin"


POLICY: dict[Role, frozenset[Permission]] = {
    Role.COUNTY_SYSTEM: frozenset({Permission.SEND, Permission.READ, Permission.ANSWER}),
    Role.COUNTY_OPERATOR: frozenset({Permission.READ}),
    Role.PROVINCIAL_MONITOR: frozenset({Permission.MONITOR}),
    Role.NATIONAL_MONITOR: frozenset({Permission.MONITOR}),
    Role.ADMIN: frozenset({Permission.ADMIN, Permission.READ}),
}


@dataclass(frozen=True)
class Principal:
    id: str
    role: Role
    counties: frozenset[str] = frozenset()  # county roles: the counties it acts for
    provinces: frozenset[str] = frozenset()  # provincial monitor: 2-digit province prefixes

    def may(self, permission: Permission) -> bool:
        return permission in POLICY[self.role]

    def acts_for(self, county: str) -> bool:
        """May this principal speak for, or read the messages of, `county`?"""
        if self.role is Role.ADMIN:
            return True
        return county in self.counties

    def oversees(self, county: str) -> bool:
        """May this principal see `county` in monitor figures?"""
        if self.role is Role.NATIONAL_MONITOR:
            return True
        return self.role is Role.PROVINCIAL_MONITOR and county[:2] in self.provinces
