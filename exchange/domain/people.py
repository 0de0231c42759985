"""People who sign in to the pages (the county workbench, the provincial dashboard), as opposed to systems with API
keys. A person's role maps onto the API's roles, so a page is allowed exactly what the same principal would be
allowed through the API: one policy (exchange/domain/principals.py), not two."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exchange.domain.principals import Principal, Role


class PersonRole(StrEnum):
    CLERK = "clerk"  # 办事员: enters and answers records for their counties
    VIEWER = "viewer"  # 查看员: reads their counties' records only
    MONITOR = "monitor"  # 省级监测: the provincial dashboard of their provinces (on a monitor)


#: The API role whose permissions each person's role has.
API_ROLE = {
    PersonRole.CLERK: Role.COUNTY_SYSTEM,
    PersonRole.VIEWER: Role.COUNTY_OPERATOR,
    PersonRole.MONITOR: Role.PROVINCIAL_MONITOR,
}
#: The roles people may have on a node and on a monitor.
PERSON_ROLES_HERE = {
    "node": (PersonRole.CLERK, PersonRole.VIEWER),
    "monitor": (PersonRole.MONITOR,),
}
LABELS = {PersonRole.CLERK: ("办事员", "clerk"), PersonRole.VIEWER: ("查看员", "viewer"),
          PersonRole.MONITOR: ("省级监测", "provincial monitor")}


@dataclass(frozen=True)
class Person:
    account: str
    name: str
    role: PersonRole
    counties: frozenset[str] = frozenset()
    provinces: frozenset[str] = frozenset()  # 2-digit prefixes

    @property
    def principal(self) -> Principal:
        """The principal the person acts as: its id (``person:<account>``) is what the evidence chain names."""
        return Principal(f"person:{self.account}"[:64], API_ROLE[self.role], self.counties, self.provinces)
