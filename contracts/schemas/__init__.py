"""JSON Schemas of the envelope and every payload version, generated from the models.

The files under ``contracts/schemas/<version>/`` are committed so that other
implementations (and reviewers) read the standard without Python; a test
fails when they drift from the models. ``contracts/schemas/asyncapi.json``,
the AsyncAPI document of every topic (``contracts.asyncapi``), references them
and is generated and checked with them. ``contracts/released/<version>/`` holds
the frozen copy of each published version, which the compatibility gate
(``contracts.compat``) compares against.

    python -m contracts.schemas            # regenerate contracts/schemas/
    python -m contracts.schemas --check    # exit 1 if the files are stale
    python -m contracts.schemas --release 1.0   # freeze a version into contracts/released/
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.asyncapi import DOCUMENT_NAME, document
from contracts.control import CONTROL_MODELS, CONTROL_VERSION
from contracts.envelope import Envelope
from contracts.registry import PAYLOAD_MODELS

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PACKAGE_DIR / "schemas"
RELEASED_DIR = PACKAGE_DIR / "released"

#: The envelope's own schema version (it changes independently of payloads).
ENVELOPE_VERSION = "1.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_models() -> dict[tuple[str, str], type[BaseModel]]:
    """(version, name) -> model for every schema file: the envelope, each payload version, the control records."""
    models: dict[tuple[str, str], type[BaseModel]] = {(ENVELOPE_VERSION, "envelope"): Envelope}
    models.update({(CONTROL_VERSION, name): model for name, model in CONTROL_MODELS.items()})
    for (message_type, version), model in PAYLOAD_MODELS.items():
        models[(version, message_type.value)] = model
    return dict(sorted(models.items()))


def schema_document(version: str, name: str) -> dict[str, Any]:
    """The JSON Schema of one model, with ``$schema`` and a ``$id`` equal to its dataschema URI."""
    schema = schema_models()[(version, name)].model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"urn:mpx:schema:{name}:{version}", **schema}


def render(schema: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, 2-space indent, UTF-8 kept readable, trailing newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def schema_path(version: str, name: str, root: Path = SCHEMAS_DIR) -> Path:
    return root / version / f"{name}.json"


def asyncapi_path(root: Path = SCHEMAS_DIR) -> Path:
    return root / DOCUMENT_NAME


def generated_files(root: Path = SCHEMAS_DIR) -> dict[Path, str]:
    """Every schema file as it should be on disk, and the AsyncAPI document beside them."""
    files = {schema_path(v, n, root): render(schema_document(v, n)) for v, n in schema_models()}
    files[asyncapi_path(root)] = render(document())
    return files


def stale_files(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Files that are missing, differ from the models, or no longer belong."""
    expected = generated_files(root)
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    stale += [p for p in sorted(root.glob("*/*.json")) if p not in expected]
    return stale


def write_schemas(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Write all schema files and delete ones no model produces; returns the files changed."""
    changed = stale_files(root)
    expected = generated_files(root)
    for path in changed:
        if path in expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[path], encoding="utf-8")
        else:
            path.unlink()
    return changed


def release(version: str, root: Path = SCHEMAS_DIR, released: Path = RELEASED_DIR) -> list[Path]:
    """Freeze the generated files of ``version``; refuses to alter an existing release."""
    sources = sorted((root / version).glob("*.json"))
    if not sources:
        raise ValueError(f"no generated schemas for version {version}")
    target = released / version
    written: list[Path] = []
    for src in sources:
        dst = target / src.name
        text = src.read_text(encoding="utf-8")
        if dst.exists():
            if dst.read_text(encoding="utf-8") != text:
                raise ValueError(f"{dst} is released and frozen; bump the schema version instead")
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text, encoding="utf-8")
        written.append(dst)
    return written


def released_schemas(released: Path = RELEASED_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, name) -> frozen schema for every released file."""
    return {
        (p.parent.name, p.stem): json.loads(p.read_text(encoding="utf-8")) for p in sorted(released.glob("*/*.json"))
    }
