"""The committed AsyncAPI document and the official AsyncAPI 3.0.0 JSON Schema, read with `jsonschema` only
(nothing of contracts.asyncapi): what the tests check the document, and real records, against.

``asyncapi_spec/3.0.0.json`` is the official schema as published by the AsyncAPI Initiative
(github.com/asyncapi/spec-json-schemas), vendored unchanged from the npm package @asyncapi/specs 6.11.1
(https://registry.npmjs.org/@asyncapi/specs/-/specs-6.11.1.tgz, file package/schemas/3.0.0.json), Apache-2.0:
its LICENSE and NOTICE are beside it. No PyPI package ships it. SPEC_SHA256 pins the file.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from contracts.schemas import SCHEMAS_DIR, asyncapi_path

SPEC_PATH = Path(__file__).resolve().parent / "asyncapi_spec" / "3.0.0.json"
SPEC_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"
DOCUMENT_URI = asyncapi_path().as_uri()


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_bytes())


def spec_errors(document: dict[str, Any]) -> list[str]:
    """Where `document` breaks the official AsyncAPI 3.0.0 schema (the validator its own $schema names)."""
    cls = validators.validator_for(spec())
    validator = cls(spec(), format_checker=cls.FORMAT_CHECKER)
    return sorted(f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document))


@cache
def document() -> dict[str, Any]:
    return json.loads(asyncapi_path().read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """The document and every committed schema file, each under its file URI (and a schema under its $id), so
    the document's relative references resolve as they would for any reader of the repository."""
    resources = [(DOCUMENT_URI, Resource(contents=document(), specification=DRAFT202012))]
    for path in sorted(SCHEMAS_DIR.glob("*/*.json")):
        resource = DRAFT202012.create_resource(json.loads(path.read_text(encoding="utf-8")))
        resources += [(path.as_uri(), resource), (resource.id(), resource)]
    return Registry().with_resources(resources)


def refs(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(where, $ref) of every reference in a document."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append((path, value))
            else:
                found += refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += refs(value, f"{path}/{i}")
    return found


def resolve(ref: str) -> Any:
    return registry().resolver(base_uri=DOCUMENT_URI).lookup(ref).contents


def message_errors(channel: str, message: str, *, headers: dict[str, str], value: Any,
                   key: str | None = None) -> list[str]:
    """Where a record (headers decoded, value as parsed JSON, record key) breaks what the document says of
    `message` on `channel`."""
    pointer = f"{DOCUMENT_URI}#/channels/{channel}/messages/{message}"
    errors = []
    for part, instance in (("headers", headers), ("payload", value), ("bindings/kafka/key", key)):
        if part.startswith("bindings") and key is None:
            continue
        validator = Draft202012Validator({"$ref": f"{pointer}/{part}"}, registry=registry(),
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors += [f"{part}/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                   for e in validator.iter_errors(instance)]
    return errors


def spec_is_pinned() -> bool:
    return hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256
