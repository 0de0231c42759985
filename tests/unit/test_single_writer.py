"""The outbox and the evidence chain each have exactly one writer: the unit of work. A service that inserted an
outbox row or chained an evidence entry itself would bypass the sealing, signing and ordering done there."""

from __future__ import annotations

import ast
from pathlib import Path

import exchange

PACKAGE = Path(exchange.__file__).parent
WRITER = PACKAGE / "adapters" / "unit_of_work.py"


def _writes(path: Path, root: Path = PACKAGE) -> list[str]:
    """`insert(outbox …)` statements and calls of the evidence chain's append functions in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "insert" and any(isinstance(a, ast.Name) and a.id == "outbox" for a in node.args):
            found.append(f"{path.relative_to(root)}:{node.lineno} inserts into the outbox")
        if name == "append_many" and isinstance(node.func, ast.Attribute) \
                and getattr(node.func.value, "id", "") == "evidence":
            found.append(f"{path.relative_to(root)}:{node.lineno} appends to the evidence chain")
    return found


def test_only_the_unit_of_work_writes_the_outbox_and_the_evidence_chain():
    modules = [p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts]
    elsewhere = [w for p in modules if p != WRITER for w in _writes(p)]
    assert elsewhere == []
    assert any("outbox" in w for w in _writes(WRITER)) and any("evidence" in w for w in _writes(WRITER))


def test_the_check_sees_a_service_writing_the_outbox(tmp_path):
    rogue = tmp_path / "rogue.py"
    rogue.write_text("async def f(conn, evidence):\n    await conn.execute(insert(outbox).values())\n"
                     "    await evidence.append_many(conn, [], at=None)\n")
    assert len(_writes(rogue, tmp_path)) == 2

