"""Forms built from the contracts: one input per field of a payload (the columns of the Excel template,
adapters/workbook.py), closed lists as selects, dates as date pickers, and what a form sends read back into the
payload the API would take. The rules stay the contract's: the server validates what is sent with the same services
as the API, and its field errors (problem JSON's `errors`) are put back beside their inputs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError

import contracts.payloads
from adapters.workbook import Column, cell_value, columns
from contracts import CURRENT_VERSIONS, MessageType, validate_payload
from contracts.errors import describe_errors
from contracts.ethnicity import ETHNICITY_INFO

#: The message's own columns (id, receiver, in_reply_to), which a page fills in itself.
OWN = ("id", "receiver", "in_reply_to")


@cache
def choice_labels() -> dict[str, str]:
    """The Chinese name of each closed-list value, as the contracts' enums write it beside the value (`WORK = "work"
    # 务工`): read from their source, so that the names live in one place."""
    labels: dict[str, str] = {"male": "男", "female": "女"}  # GB/T 2261.1 (the contract's Sex has no comments)
    labels.update({str(e): zh for e, (_, zh) in ETHNICITY_INFO.items()})
    pattern = re.compile(r'^\s+[A-Z_0-9]+ = "([a-z_0-9]+)"\s+#\s*(.+)$', re.MULTILINE)
    modules = [importlib.import_module(f"contracts.payloads.{m.name}")
               for m in pkgutil.iter_modules(contracts.payloads.__path__)]
    for module in modules:
        for value, label in pattern.findall(inspect.getsource(module)):
            labels.setdefault(value, label.strip())
    return labels


@dataclass
class Field:
    """One input of a form."""

    column: Column
    value: str = ""
    error: str = ""

    @property
    def name(self) -> str:
        return self.column.key

    @property
    def dom_id(self) -> str:
        return self.column.key.replace(".", "-")

    @property
    def label(self) -> str:
        return self.column.heading.rsplit(" ", 1)[0]

    @property
    def choices(self) -> list[tuple[str, str]]:
        values = ("true", "false") if self.column.kind == "boolean" else self.column.choices
        names = {"true": "是", "false": "否", **choice_labels()}
        return [(v, names.get(v, v)) for v in values]


def fields(message_type: MessageType, values: dict[str, str] | None = None,
           errors: dict[str, str] | None = None) -> list[Field]:
    """The inputs of a payload of `message_type` (not the message's own id, receiver, reply link)."""
    values, errors = values or {}, errors or {}
    return [Field(c, values.get(c.key, ""), errors.get(c.key, "")) for c in columns(message_type) if c.key not in OWN]


def payload(message_type: MessageType, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The payload a form's values make (empty inputs left out), and the inputs whose value is not of their kind."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for column in columns(message_type):
        if column.key in OWN:
            continue
        try:
            value = cell_value(form.get(column.key), column)
        except ValueError:
            errors[column.key] = f"取值无效 / not a valid {column.kind}"
            continue
        if value is not None:
            target = data
            for part in column.path[:-1]:
                target = target.setdefault(part, {})
            target[column.path[-1]] = value
    return data, errors


def field_errors(errors: list[dict[str, str]], prefix: str = "data/") -> dict[str, str]:
    """A problem's field errors by input name: "data/person/id_number" → "person.id_number" (Chinese, English)."""
    return {e["field"].removeprefix(prefix).replace("/", "."): f"{e['message_zh']} / {e['message']}" for e in errors}


def check(message_type: MessageType, data: dict[str, Any]) -> dict[str, str]:
    """The contract's errors for `data`, by input name: what the form shows as the clerk types (the server checks
    again on sending)."""
    try:
        validate_payload(message_type, CURRENT_VERSIONS[message_type], data)
    except ValidationError as exc:
        return {".".join(map(str, e["loc"])): f"{e['message_zh']} / {e['message_en']}" for e in describe_errors(exc)}
    return {}
