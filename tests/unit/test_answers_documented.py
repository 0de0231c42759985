"""Every operation of a node's and a monitor's OpenAPI document declares what it answers: a success answer with a
schema (the route's response model, which FastAPI validates), or no body at all (204).

Whether the answers really match their schemas is tested against a real node by tests/integration/test_openapi_fuzz.py
(the node's document) and by the monitor scenarios of tests/integration/test_deadlines_and_monitor.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange.config import Settings
from exchange.entrypoints.http.app import create_app

#: A monitor's readiness answer stays undocumented, as before (exchange/entrypoints/http/routes/health.py; its
#: /healthz is documented as some object).
UNDOCUMENTED = {"monitor": {"GET /readyz"}, "node": set()}


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": operation for path, item in document["paths"].items()
            for method, operation in item.items()}


@pytest.mark.parametrize("role", ["node", "monitor"])
def test_every_operation_declares_its_answer(tmp_path, role: str) -> None:
    app = create_app(Settings(role=role, counties=("621227",), database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    undeclared = []
    for name, operation in operations(app.openapi()).items():
        success = {status: answer for status, answer in operation["responses"].items() if status.startswith("2")}
        assert success, name
        for status, answer in success.items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if status != "204" and schema in (None, {}):
                undeclared.append(name)
    assert sorted(undeclared) == sorted(UNDOCUMENTED[role])


def test_the_monitor_documents_its_tables_beside_the_json(tmp_path) -> None:
    app = create_app(Settings(role="monitor", database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    documented = operations(app.openapi())
    for name in ("GET /v1/monitor/timeliness", "GET /v1/monitor/verification", "GET /v1/monitor/overdue",
                 "GET /v1/monitor/bulletin"):
        content = documented[name]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv",
                                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
