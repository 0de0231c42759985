"""Compatibility gate between a released JSON Schema and the current one.

Rule: a released payload version may only evolve so that **every message valid
under the released schema stays valid under the new one**, and no field a
consumer of the released version reads disappears. Counties upgrade their
nodes at different times, so an old producer must keep being accepted by a
new consumer, and an old consumer must still find its fields.

Breaking (each reported as ``"<kind>: <path> ..."``):

- ``property_removed``: a property is gone;
- ``property_newly_required``: a property (old or new) became required;
- ``type_changed``: a value's type no longer accepts what it did (integer -> number is a widening, allowed);
- ``enum_value_removed`` / ``enum_added`` / ``const_changed``: fewer allowed values;
- ``additional_properties_tightened``: unknown keys were allowed and no longer are;
- ``constraint_tightened``: maxLength/maximum/maxItems lowered or added, minLength/minimum/minItems
  raised or added, multipleOf changed;
- ``pattern_changed`` / ``format_changed``: a different or new pattern/format (not provably wider).

Allowed: adding an optional property, adding an enum value, loosening a
constraint, changing titles, descriptions and defaults.
``$ref``/``$defs`` (and single-schema ``allOf``) are resolved; unions
(``anyOf``/``oneOf``, e.g. optional fields) are compared branch by branch.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Backward-incompatible changes from ``old_schema`` (released) to ``new_schema``; empty if none."""
    return _Gate(old_schema, new_schema).compare(old_schema, new_schema, "$")


class _Gate:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self._active: set[tuple[str | None, str | None]] = set()

    # -- resolution -------------------------------------------------------

    @staticmethod
    def _resolve(schema: Any, root: Schema) -> Schema:
        """Follow ``$ref`` and merge single ``allOf``; sibling keywords override the target."""
        if not isinstance(schema, dict):
            return {} if schema is True else {"not": {}}
        seen: set[str] = set()
        while True:
            if "$ref" in schema:
                ref = schema["$ref"]
                if ref in seen or not ref.startswith("#"):
                    raise ValueError(f"cannot resolve $ref {ref!r}")
                seen.add(ref)
                target: Any = root
                for part in filter(None, ref[1:].split("/")):
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                siblings = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **siblings}
            elif "allOf" in schema:
                parts = [_Gate._resolve(s, root) for s in schema["allOf"]]
                merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
                for part in parts:
                    for key, value in part.items():
                        if key == "properties":
                            merged["properties"] = {**merged.get("properties", {}), **value}
                        elif key == "required":
                            merged["required"] = sorted(set(merged.get("required", [])) | set(value))
                        else:
                            merged.setdefault(key, value)
                schema = merged
            else:
                return dict(schema)

    def _branches(self, schema: Any, root: Schema, via: str | None = None) -> list[tuple[Schema, str | None]]:
        """Alternatives of a schema (anyOf/oneOf flattened), each with the first $ref it came through."""
        if isinstance(schema, dict) and "$ref" in schema:
            via = via or schema["$ref"]
        schema = self._resolve(schema, root)
        key = "anyOf" if "anyOf" in schema else "oneOf" if "oneOf" in schema else None
        if key is None:
            return [(schema, via)]
        siblings = {k: v for k, v in schema.items() if k not in (key, "default", "title", "description")}
        out: list[tuple[Schema, str | None]] = []
        for branch in schema[key]:
            for b, ref in self._branches(branch, root, via):
                out.append(({**siblings, **b}, ref))
        return out

    # -- comparison -------------------------------------------------------

    def compare(self, old: Any, new: Any, path: str) -> list[str]:
        new_branches = self._branches(new, self.new_root)
        problems: list[str] = []
        for ob, old_ref in self._branches(old, self.old_root):
            candidates = [(nb, ref) for nb, ref in new_branches if _accepts_types(nb, ob)]
            if not candidates:
                labels = " or ".join(_type_label(nb) for nb, _ in new_branches)
                problems.append(f"type_changed: {path}: {_type_label(ob)} -> {labels}")
                continue
            best: list[str] | None = None
            for nb, new_ref in candidates:
                found = self._compare_guarded(ob, old_ref, nb, new_ref, path)
                if best is None or len(found) < len(best):
                    best = found
                if not found:
                    break
            problems.extend(best or [])
        return problems

    def _compare_guarded(
        self, old: Schema, old_ref: str | None, new: Schema, new_ref: str | None, path: str
    ) -> list[str]:
        """Compare once per pair of $defs on the current path, so recursive schemas terminate."""
        key = (old_ref, new_ref)
        if key == (None, None):
            return self._compare_single(old, new, path)
        if key in self._active:
            return []
        self._active.add(key)
        try:
            return self._compare_single(old, new, path)
        finally:
            self._active.discard(key)

    def _compare_single(self, old: Schema, new: Schema, path: str) -> list[str]:
        problems: list[str] = []
        problems += _compare_values(old, new, path)
        problems += _compare_bounds(old, new, path)
        if "properties" in old or "properties" in new or "required" in new:
            problems += self._compare_object(old, new, path)
        problems += self._compare_additional(old, new, path)
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            problems += self.compare(old["items"], new["items"], f"{path}[]")
        return problems

    def _compare_object(self, old: Schema, new: Schema, path: str) -> list[str]:
        problems: list[str] = []
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        for name, old_prop in sorted(old_props.items()):
            if name not in new_props:
                problems.append(f"property_removed: {path}.{name}")
            else:
                problems += self.compare(old_prop, new_props[name], f"{path}.{name}")
        for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            problems.append(f"property_newly_required: {path}.{name}")
        return problems

    def _compare_additional(self, old: Schema, new: Schema, path: str) -> list[str]:
        old_ap = old.get("additionalProperties", True)
        new_ap = new.get("additionalProperties", True)
        if old_ap is False or new_ap is True:
            return []
        if new_ap is False or old_ap is True:
            return [f"additional_properties_tightened: {path}"]
        return self.compare(old_ap, new_ap, f"{path}.*")


def _types(schema: Schema) -> set[str] | None:
    """JSON types a schema can accept, or None if unrestricted."""
    if "type" in schema:
        t = schema["type"]
        return set(t) if isinstance(t, list) else {t}
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    if values is not None:
        return {_json_type(v) for v in values}
    if "properties" in schema or "required" in schema:
        return {"object"}
    if "items" in schema or "prefixItems" in schema:
        return {"array"}
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts_types(new: Schema, old: Schema) -> bool:
    new_types, old_types = _types(new), _types(old)
    if new_types is None:
        return True
    if old_types is None:
        return False
    return all(t in new_types or (t == "integer" and "number" in new_types) for t in old_types)


def _type_label(schema: Schema) -> str:
    types = _types(schema)
    return "|".join(sorted(types)) if types else "any"


def _compare_values(old: Schema, new: Schema, path: str) -> list[str]:
    old_values = old["enum"] if "enum" in old else [old["const"]] if "const" in old else None
    if "enum" in new:
        if old_values is None:
            return [f"enum_added: {path}"]
        removed = [v for v in old_values if v not in new["enum"]]
        return [f"enum_value_removed: {path}: {removed!r}"] if removed else []
    if "const" in new and old_values != [new["const"]]:
        return [f"const_changed: {path}"]
    return []


def _compare_bounds(old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"constraint_tightened: {path}: {key} {old.get(key)} -> {new[key]}")
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"constraint_tightened: {path}: {key} {old.get(key)} -> {new[key]}")
    if "multipleOf" in new and new["multipleOf"] != old.get("multipleOf"):
        problems.append(f"constraint_tightened: {path}: multipleOf {old.get('multipleOf')} -> {new['multipleOf']}")
    for key, kind in (("pattern", "pattern_changed"), ("format", "format_changed")):
        if key in new and new[key] != old.get(key):
            problems.append(f"{kind}: {path}")
    return problems
