"""What Schemathesis' CLI needs to know of the contracts beyond JSON Schema (SCHEMATHESIS_HOOKS=tests.schemathesis_hooks).

The document says everything JSON Schema can say: closed lists, patterns, lengths, a payload schema per message type.
Some rules of the contracts it cannot say: an ID number's check character (ISO 7064) and the birth date and sex inside
it, a real GB/T 2260 code, one date not before another, a field required by another's value. Schemathesis generates
what the document allows; these hooks give the custom format its real codes and, for schema-valid bodies only, make
the few facts JSON Schema cannot state agree (the ID number is rebuilt from the person's own birth date and sex, dates
are moved into the person's lifetime), so that a body the node refuses is one the document should have refused. A
schema-violating body is left as it was generated.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from contracts import is_county, is_region, today_in_china
from contracts.examples import example_id_number

#: Real county codes: the three of `make run` (served by the node under test) and a few others.
COUNTIES = ["621227", "542526", "330203", "110101", "320321", "440106", "510104", "650102"]
schemathesis.openapi.format("gbt2260-region", st.sampled_from(COUNTIES))

#: Dates of events that happened (not those still to come, like a next check due).
EVENT_DATES = ("outflow_date", "check_date", "return_date", "handled_on", "certificate_issue_date")
MARRIED = ("first_marriage", "remarried")
NEEDS_REASON = ("not_found", "moved_on", "rejected")
#: A verification step's own fields, by step, and a value for each field.
STEP_FIELDS = {"matched": ("found",), "verified": ("method",), "answered": ("result", "findings")}
STEP_VALUES = {"found": True, "method": "phone", "result": "confirmed", "findings": "属实 / confirmed"}


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    query = case.meta.components.get(ParameterLocation.QUERY, case.meta.generation) if case.meta else None
    if query is not None and query.mode is GenerationMode.POSITIVE and isinstance(case.query, dict):
        if isinstance(case.query.get("day"), str):  # a digest of a day that has come
            case.query["day"] = _day(case.query["day"], date(1900, 1, 2), today_in_china()).isoformat()
    body = case.meta.components.get(ParameterLocation.BODY, case.meta.generation) if case.meta else None
    if body is not None and body.mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
        _areas(case.body)
        for message in case.body.get("messages", [case.body]):
            if isinstance(message, dict) and isinstance(message.get("data"), dict):
                _envelope(message)
                _agree(message["data"])
    return case


def _areas(body: dict[str, Any]) -> None:
    """An admin's areas are real ones; only a provincial monitor's key names provinces."""
    if isinstance(body.get("region"), str) and not is_region(body["region"]):
        body["region"] = "540000"
    if isinstance(body.get("parties"), list):
        body["parties"] = [p if isinstance(p, str) and is_region(p.ljust(6, "0")) else "330000"
                           for p in body["parties"]]
    if isinstance(body.get("provinces"), list):
        body["provinces"] = ["330000"] * bool(body["provinces"]) if body.get("role") == "provincial_monitor" else []
    if str(body.get("role")).startswith("county"):  # a county key acts for a county this node serves
        body["counties"] = ["621227"]
    elif isinstance(body.get("counties"), list):
        body["counties"] = []
    for first, last in (("date", "until"), ("effective_from", "effective_to")):  # a range runs forwards, a year at most
        if isinstance(body.get(first), str) and isinstance(body.get(last), str):
            body[last] = _day(body[last], date.fromisoformat(body[first]),
                              date.fromisoformat(body[first]) + timedelta(days=365)).isoformat()


def _envelope(message: dict[str, Any]) -> None:
    """Two different real counties; a reply does not answer itself."""
    for key in ("sender", "receiver"):
        if isinstance(message.get(key), str) and not is_county(message[key]):
            message[key] = COUNTIES[0]
    if "sender" in message and message.get("receiver") == message["sender"]:
        message["receiver"] = next(c for c in COUNTIES if c != message.get("sender"))
    if message.get("in_reply_to") is not None and message.get("in_reply_to") == message.get("id"):
        message["in_reply_to"] += "-original"


def _agree(data: dict[str, Any]) -> None:
    """Make a payload's facts agree where its schema cannot say they must."""
    today = today_in_china()
    _real_regions(data)
    people = [data[k] for k in ("person", "mother", "father") if isinstance(data.get(k), dict)]
    for seq, person in enumerate(people):
        born = _day(person.get("birth_date"), date(1960, 1, 1), date(2004, 12, 31))
        sex = {"mother": "female", "father": "male"}.get(_role(data, person), person.get("sex", "female"))
        if data.get("result") is not None and person is data.get("person"):
            sex = "female"  # a pregnancy check's subject
        person.update(birth_date=born.isoformat(), sex=sex,
                      id_number=example_id_number(person.get("registration_region", "621227"), born, seq, sex))
    eldest = max((date.fromisoformat(p["birth_date"]) for p in people), default=date(1960, 1, 1))
    for key in EVENT_DATES:
        if isinstance(data.get(key), str):
            data[key] = _day(data[key], eldest + timedelta(days=1), today).isoformat()
    if isinstance(data.get("child"), dict):
        data["child"]["birth_date"] = _day(data["child"].get("birth_date"), eldest + timedelta(days=1),
                                           today).isoformat()
    if isinstance(data.get("spouse"), dict):
        if data.get("marital_status") in MARRIED:
            data["spouse"]["id_number"] = example_id_number("621227", date(1980, 1, 1), 400, "male")
        else:
            del data["spouse"]
    if (data.get("certificate_number") is None) != (data.get("certificate_issue_date") is None):
        data.pop("certificate_number", None)
        data.pop("certificate_issue_date", None)
    if isinstance(data.get("check_date"), str):
        if data.get("next_check_due") is not None:
            data["next_check_due"] = max(data["next_check_due"], data["check_date"])
        if data.get("result") == "pregnant":
            data["gestational_weeks"] = data.get("gestational_weeks") or 12
        else:
            data.pop("gestational_weeks", None)
    if data.get("step") in STEP_FIELDS:  # a verification step carries the fields of its step, and only those
        for name, value in STEP_VALUES.items():
            if name in STEP_FIELDS[data["step"]]:
                data[name] = data.get(name) if data.get(name) is not None else value
            else:
                data.pop(name, None)
    if isinstance(data.get("subjects"), list):  # a verification request: each subject once, a certificate by number
        data["subjects"] = list(dict.fromkeys(data["subjects"]))
        if "certificate" in data["subjects"] and not data.get("certificate_number"):
            data["certificate_number"] = "621227202600001"
    if data.get("status") in NEEDS_REASON and not data.get("reason"):
        data["reason"] = "经核查 / checked"
    if data.get("status") == "moved_on":
        data["new_region"] = data.get("new_region") or "330204"
    elif "status" in data:
        data.pop("new_region", None)


def _real_regions(data: dict[str, Any]) -> None:
    """The coverage phase's boundary codes ("000000") fit the pattern but are no real county."""
    for key, value in data.items():
        if isinstance(value, dict):
            _real_regions(value)
        elif key.endswith("region") and isinstance(value, str) and not is_county(value):
            data[key] = COUNTIES[-1]


def _role(data: dict[str, Any], person: dict[str, Any]) -> str:
    return next(k for k in ("person", "mother", "father") if data.get(k) is person)


def _day(text: Any, first: date, last: date) -> date:
    """The day `text` names moved into [first, last] (a day derived from it when it names none)."""
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        day = first + timedelta(days=int(hashlib.sha256(str(text).encode()).hexdigest(), 16) % 3650)
    span = max((last - first).days, 0)
    return day if first <= day <= last else first + timedelta(days=(day - first).days % (span + 1))
