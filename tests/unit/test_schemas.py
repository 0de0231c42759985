"""The committed JSON Schemas match the models, and released versions stay compatible."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from contracts.compat import breaking_changes
from contracts.registry import PAYLOAD_MODELS
from contracts.schemas import (
    RELEASED_DIR,
    SCHEMAS_DIR,
    released_schemas,
    render,
    schema_document,
    schema_models,
    schema_path,
    stale_files,
)

REGENERATE = "run `python -m contracts.schemas` and commit the result"


@pytest.mark.parametrize(("version", "name"), list(schema_models()))
def test_committed_schema_matches_the_model(version: str, name: str) -> None:
    path = schema_path(version, name)
    assert path.exists(), f"{path} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render(schema_document(version, name)), f"{path} is stale: {REGENERATE}"


def test_no_stray_schema_files() -> None:
    assert stale_files() == [], REGENERATE


def test_schema_text_is_deterministic() -> None:
    text = render(schema_document("1.0", "outflow_registration"))
    assert text == render(schema_document("1.0", "outflow_registration"))
    assert text.endswith("}\n") and text.startswith('{\n  "$defs"')
    assert json.loads(text)["$id"] == "urn:mpx:schema:outflow_registration:1.0"


def test_version_1_0_is_released_for_every_type_and_the_envelope() -> None:
    released = released_schemas()
    expected = {("1.0", "envelope")} | {(v, mt.value) for (mt, v) in PAYLOAD_MODELS if v == "1.0"}
    assert expected <= set(released)
    assert all(p.parent.parent == RELEASED_DIR for p in RELEASED_DIR.glob("*/*.json"))
    assert SCHEMAS_DIR != RELEASED_DIR


@pytest.mark.parametrize(("version", "name"), list(released_schemas()))
def test_released_versions_have_no_breaking_change(version: str, name: str) -> None:
    assert (version, name) in schema_models(), f"released schema {version}/{name} no longer has a model"
    problems = breaking_changes(released_schemas()[(version, name)], schema_document(version, name))
    assert problems == [], "breaking changes against contracts/released/: " + "; ".join(problems)


# -- the gate itself, on small schemas ------------------------------------------------------------


def base() -> dict[str, Any]:
    return {
        "$defs": {
            "Status": {"enum": ["received", "confirmed"], "type": "string"},
            "Person": {
                "additionalProperties": False,
                "properties": {
                    "name": {"maxLength": 50, "minLength": 1, "type": "string"},
                    "code": {"pattern": "^[0-9]{6}$", "type": "string"},
                },
                "required": ["name"],
                "type": "object",
            },
        },
        "additionalProperties": True,
        "properties": {
            "person": {"$ref": "#/$defs/Person"},
            "status": {"$ref": "#/$defs/Status"},
            "weeks": {"anyOf": [{"maximum": 45, "minimum": 1, "type": "integer"}, {"type": "null"}], "default": None},
            "tags": {"items": {"type": "string"}, "type": "array"},
        },
        "required": ["person", "status"],
        "type": "object",
    }


def changed(edit: Any) -> list[str]:
    new = copy.deepcopy(base())
    edit(new)
    return breaking_changes(base(), new)


def kinds(problems: list[str]) -> set[str]:
    return {p.split(":", 1)[0] for p in problems}


def test_an_identical_schema_is_compatible() -> None:
    assert breaking_changes(base(), base()) == []


def test_adding_an_optional_property_is_allowed() -> None:
    assert changed(lambda s: s["$defs"]["Person"]["properties"].update(phone={"type": "string"})) == []


def test_adding_an_enum_value_and_loosening_constraints_is_allowed() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["$defs"]["Status"]["enum"].append("moved_on")
        s["$defs"]["Person"]["properties"]["name"]["maxLength"] = 100
        s["properties"]["weeks"]["anyOf"][0]["type"] = "number"
        s["properties"]["status"]["description"] = "reworded"

    assert changed(edit) == []


def test_a_removed_property_is_breaking() -> None:
    problems = changed(lambda s: s["$defs"]["Person"]["properties"].pop("code"))
    assert problems == ["property_removed: $.person.code"]


def test_a_newly_required_property_is_breaking() -> None:
    assert kinds(changed(lambda s: s["$defs"]["Person"]["required"].append("code"))) == {"property_newly_required"}

    def add_required(s: dict[str, Any]) -> None:
        s["properties"]["reason"] = {"type": "string"}
        s["required"].append("reason")

    assert changed(add_required) == ["property_newly_required: $.reason"]


def test_a_changed_type_is_breaking() -> None:
    assert kinds(changed(lambda s: s["$defs"]["Person"]["properties"]["name"].update(type="integer"))) == {
        "type_changed"
    }
    assert kinds(changed(lambda s: s["properties"]["weeks"]["anyOf"][0].update(type="string"))) == {"type_changed"}
    assert kinds(changed(lambda s: s["properties"]["weeks"].update(anyOf=[{"type": "integer"}]))) == {"type_changed"}


def test_a_removed_enum_value_is_breaking() -> None:
    problems = changed(lambda s: s["$defs"]["Status"]["enum"].remove("confirmed"))
    assert problems == ["enum_value_removed: $.status: ['confirmed']"]


def test_tightened_additional_properties_are_breaking() -> None:
    assert kinds(changed(lambda s: s.update(additionalProperties=False))) == {"additional_properties_tightened"}


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s["$defs"]["Person"]["properties"]["name"].update(maxLength=40),
        lambda s: s["$defs"]["Person"]["properties"]["name"].update(minLength=2),
        lambda s: s["properties"]["weeks"]["anyOf"][0].update(minimum=4),
        lambda s: s["properties"]["weeks"]["anyOf"][0].update(maximum=42),
        lambda s: s["properties"]["tags"].update(maxItems=3),
    ],
)
def test_tightened_constraints_are_breaking(edit: Any) -> None:
    assert kinds(changed(edit)) == {"constraint_tightened"}


def test_a_changed_pattern_is_breaking() -> None:
    problems = changed(lambda s: s["$defs"]["Person"]["properties"]["code"].update(pattern="^[0-9]{4}$"))
    assert problems == ["pattern_changed: $.person.code"]


def test_changes_inside_array_items_are_found() -> None:
    assert kinds(changed(lambda s: s["properties"]["tags"]["items"].update(type="integer"))) == {"type_changed"}


def test_recursive_schemas_terminate() -> None:
    tree = {
        "$defs": {
            "Node": {"properties": {"children": {"items": {"$ref": "#/$defs/Node"}, "type": "array"}}, "type": "object"}
        },
        "$ref": "#/$defs/Node",
    }
    assert breaking_changes(tree, copy.deepcopy(tree)) == []


def test_the_gate_catches_a_breaking_edit_of_a_real_released_schema() -> None:
    released = released_schemas()[("1.0", "outflow_registration")]
    edited = copy.deepcopy(released)
    edited["$defs"]["Person"]["properties"].pop("phone")
    edited["properties"]["marital_status"] = {"type": "string", "enum": ["unmarried", "first_marriage"]}
    edited["required"].append("remarks")
    assert kinds(breaking_changes(released, edited)) == {
        "property_removed",
        "enum_value_removed",
        "property_newly_required",
    }
