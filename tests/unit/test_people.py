"""Who may be given a person's account on a node and on a monitor: the rules of an API key of the same powers, a
role of this kind of node, a real account name and a long enough password; refusals name the field in Chinese."""

from __future__ import annotations

import pytest

from exchange.adapters.api_keys import GrantRefused
from exchange.adapters.people import check_person
from exchange.config import Settings
from exchange.domain.people import PersonRole
from exchange.domain.principals import Permission, Role

NODE = Settings(counties=("330203",), database_url="sqlite+aiosqlite:///:memory:")
MONITOR = Settings(role="monitor", monitor_scope=("33",), database_url="sqlite+aiosqlite:///:memory:")
PASSWORD = "a long enough password"


def _refused(settings: Settings, **asked: object) -> set[tuple[str, str]]:
    with pytest.raises(GrantRefused) as refused:
        check_person(settings, **{"account": "wangfang", "role": "clerk", "name": "王芳", "counties": ["330203"],
                                  "provinces": [], "password": PASSWORD, **asked})
    assert all(e["message_zh"] for e in refused.value.errors)
    return {(e["field"], e["code"]) for e in refused.value.errors}


def test_a_clerk_of_a_served_county_answers_and_a_viewer_only_reads():
    clerk = check_person(NODE, account="wangfang", role="clerk", name="王芳", counties=["330203"], provinces=[],
                         password=PASSWORD)
    assert clerk.role is PersonRole.CLERK and clerk.principal.id == "person:wangfang"
    assert clerk.principal.may(Permission.ANSWER) and clerk.principal.acts_for("330203")
    assert not clerk.principal.acts_for("621227")
    viewer = check_person(NODE, account="zhaomin", role="viewer", name="赵敏", counties=["330203"], provinces=[],
                          password=PASSWORD)
    assert viewer.principal.may(Permission.READ) and not viewer.principal.may(Permission.ANSWER)
    assert not viewer.principal.may(Permission.SEND)


def test_a_person_is_refused_what_the_node_cannot_give():
    assert ("counties/0", "county_not_served") in _refused(NODE, counties=["621227"])
    assert ("counties", "missing") in _refused(NODE, counties=[])
    assert ("role", "role_not_here") in _refused(NODE, role="monitor")
    assert ("account", "invalid_account") in _refused(NODE, account="Wang Fang")
    assert ("password", "too_short") in _refused(NODE, password="short")


def test_a_monitor_person_oversees_only_its_provinces():
    person = check_person(MONITOR, account="zhou", role="monitor", name="周", counties=[], provinces=["330000"],
                          password=PASSWORD)
    assert person.principal.role is Role.PROVINCIAL_MONITOR
    assert person.principal.oversees("330203") and not person.principal.oversees("621227")
    assert ("provinces/0", "province_not_monitored") in _refused(MONITOR, role="monitor", counties=[],
                                                                 provinces=["62"])
    assert ("role", "role_not_here") in _refused(MONITOR, role="clerk", counties=[], provinces=["33"])
