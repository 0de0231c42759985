"""The workbench's forms are the contracts' fields: a record of each type the clerk can enter, typed into its form
as text (dates as the date picker sends them, yes/no from a select), reads back as the very payload; a wrong ID
check character is the contract's error, on the ID number's input, in Chinese."""

from __future__ import annotations

import pytest

from adapters.workbook import flatten
from contracts import MessageType
from contracts.examples import example_payload
from exchange.entrypoints.http.web.entry import ENTERED, NAMES
from exchange.entrypoints.http.web.forms import check, field_errors, fields, payload


def _typed(data: dict) -> dict[str, str]:
    """What a browser posts: every value a text."""
    return {key: ("true" if value else "false") if isinstance(value, bool) else
            ",".join(value) if isinstance(value, list) else str(value) for key, value in flatten(data).items()
            if value is not None}


@pytest.mark.parametrize("message_type", ENTERED)
def test_a_record_typed_into_its_form_reads_back_as_its_payload(message_type: MessageType):
    example = example_payload(message_type)
    data, errors = payload(message_type, _typed(example))
    assert errors == {} and check(message_type, data) == {}
    assert flatten(data) == {key: value for key, value in flatten(example).items() if value is not None}
    inputs = {f.name: f for f in fields(message_type)}
    assert set(flatten(example)) <= set(inputs) and message_type in NAMES
    assert all(f.choices for f in inputs.values() if f.column.kind == "boolean" or f.column.choices)


def test_a_wrong_check_character_is_the_contracts_error_beside_the_id_number():
    example = example_payload(MessageType.OUTFLOW_REGISTRATION)
    number = example["person"]["id_number"]
    example["person"]["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert check(MessageType.OUTFLOW_REGISTRATION, example) == {
        "person.id_number": "公民身份号码校验码错误 / Resident ID number check character is wrong"}
    assert field_errors([{"field": "data/person/id_number", "message": "wrong", "message_zh": "错误"}]) == {
        "person.id_number": "错误 / wrong"}


def test_closed_lists_are_named_in_chinese():
    sex = next(f for f in fields(MessageType.OUTFLOW_REGISTRATION) if f.name == "person.sex")
    assert sex.choices == [("male", "男"), ("female", "女")]
    status = next(f for f in fields(MessageType.FEEDBACK) if f.name == "status")
    assert ("confirmed", "已核实") in status.choices
