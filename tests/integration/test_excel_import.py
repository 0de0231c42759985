"""The counter's Excel: a template per message type, `mpx import` of a filled-in sheet into a running node, and
`mpx export` of what a county received and must do.

A sheet of 5,000 outflow registrations with 7 bad rows imports the 4,993 good ones (with --valid-only) and reports
the 7 by row and column in Chinese and English; importing the same file again sends nothing twice; without
--valid-only a sheet with a bad row sends nothing at all; a file that is no sheet of the type is refused whole.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openpyxl
import pytest

from adapters.workbook import columns, flatten, template
from contracts import MessageType
from contracts.examples import example_payload
from tests.integration.test_openapi_cli import REPO, Node, running_node  # noqa: F401 - the node, a fixture
from tests.integration.test_round_trip import GERZE, HUI

OUTFLOW = MessageType.OUTFLOW_REGISTRATION
#: Row number (as Excel shows it) -> the column spoiled and how.
BAD = {10: ("person.id_number", "621227199001011230"), 250: ("person.sex", "unknown"),
       999: ("outflow_date", "2026-13-45"), 1500: ("receiver", None), 2501: ("marital_status", "single"),
       4000: ("children_count", "two"), 5001: ("person.name", None)}


def mpx(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"MPX_API_KEY": key} if key else {})}
    return subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=600)


def sheet_of(rows: int, path: Path) -> Path:
    """The template's headings, then `rows` registrations from 徽县 to 改则县, BAD spoiled."""
    headings = [c.heading for c in columns(OUTFLOW)]
    keys = [c.key for c in columns(OUTFLOW)]
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(OUTFLOW.value)
    sheet.append(headings)
    for number in range(2, rows + 2):
        values = flatten({"receiver": GERZE, **example_payload(OUTFLOW, seed=number, registration_region=HUI,
                                                               residence_region=GERZE)})
        if number in BAD:
            column, value = BAD[number]
            values[column] = value
        sheet.append([values.get(k) if not isinstance(values.get(k), bool) else ("是" if values[k] else "否")
                      for k in keys])
    book.save(path)
    return path


def test_the_template_has_chinese_headings_drop_downs_and_an_example_row(tmp_path: Path) -> None:
    out = tmp_path / "外出登记模板.xlsx"
    assert mpx("template", OUTFLOW.value, "--output", str(out)).returncode == 0
    book = openpyxl.load_workbook(out)
    sheet = book[OUTFLOW.value]
    headings = [c.value for c in sheet[1]]
    assert headings[:4] == ["报文编号 id", "接收地 receiver", "流出人员·姓名 person.name",
                            "流出人员·公民身份号码 person.id_number"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in headings)  # every heading in Chinese
    assert sheet.cell(row=2, column=4).value  # the example row
    lists = {str(v.sqref).split(":")[0] for v in sheet.data_validations.dataValidation}
    sex = headings.index("流出人员·性别 person.sex") + 1
    assert f"{openpyxl.utils.get_column_letter(sex)}2" in lists  # a closed list is a drop-down
    assert template(OUTFLOW) and book["lists 选项"].sheet_state == "hidden"


def test_bad_files_and_types_are_refused_whole(tmp_path: Path) -> None:
    unknown = mpx("template", "pdf_report")
    assert unknown.returncode == 2 and "未知的报文类型" in unknown.stdout and "unknown message type" in unknown.stdout
    text = tmp_path / "名单.txt"
    text.write_text("hello")
    refused = mpx("import", str(text), "--type", OUTFLOW.value, "--county", HUI, "--key", "x")
    assert refused.returncode == 2 and "只能读取" in refused.stdout and ".xlsx and .csv" in refused.stdout
    odd = tmp_path / "odd.csv"
    odd.write_text("报文编号 id,身高 height\n1,170\n", encoding="utf-8")
    refused = mpx("import", str(odd), "--type", OUTFLOW.value, "--county", HUI, "--key", "x")
    assert refused.returncode == 2 and "未知的列" in refused.stdout and "unknown column" in refused.stdout
    assert not (tmp_path / "odd.result.xlsx").exists()  # nothing read, nothing sent, no result

    # --check reads and checks, sending nothing (no node needed): the template's example row is valid.
    example = tmp_path / "example.xlsx"
    example.write_bytes(template(OUTFLOW))
    checked = mpx("import", str(example), "--type", OUTFLOW.value, "--county", HUI, "--check")
    assert checked.returncode == 0, checked.stdout
    assert _result(tmp_path / "example.result.xlsx") == [(2, "未发送 not sent", None, None)]


@pytest.mark.timeout(600)
def test_5000_rows_with_7_bad_import_4993_and_report_the_7(running_node: Node, tmp_path: Path) -> None:  # noqa: F811
    sheet = sheet_of(5000, tmp_path / "外出登记.xlsx")
    args = ("import", str(sheet), "--type", OUTFLOW.value, "--county", HUI, "--url", running_node.url)

    # All or nothing by default: a sheet with a bad row sends none.
    strict = mpx(*args, key=running_node.county_key)
    assert strict.returncode == 1
    assert _inbox(running_node) == 0

    loose = mpx(*args, "--valid-only", key=running_node.county_key)
    assert loose.returncode == 1, loose.stdout + loose.stderr  # some rows had problems
    for number, (column, _) in BAD.items():
        assert f"第 {number} 行 row {number}" in loose.stdout
    assert "流出人员·公民身份号码 person.id_number：" in loose.stdout  # the column, in Chinese
    rows = _result(tmp_path / "外出登记.result.xlsx")
    assert sorted(n for n, status, _, _ in rows if status == "有误 refused") == sorted(BAD)
    sent = {n: i for n, status, i, _ in rows if status == "已发送 sent"}
    assert len(sent) == 4993 and all(rows_problem is None for n, s, _, rows_problem in rows if s == "已发送 sent")
    assert _inbox(running_node, until=4993) == 4993

    # The same file again: the same ids, nothing sent twice.
    again = mpx(*args, "--valid-only", key=running_node.county_key)
    assert again.returncode == 1
    assert {n: i for n, s, i, _ in _result(tmp_path / "外出登记.result.xlsx") if s == "已发送 sent"} == sent
    assert _inbox(running_node, until=4993) == 4993

    # 改则县 exports what it received (a sheet per type, the template's columns) and its to-do list.
    received, todo = tmp_path / "收到.xlsx", tmp_path / "待办.csv"
    for what, out in (("inbox", received), ("worklist", todo)):
        exported = mpx("export", what, "--county", GERZE, "--url", running_node.url, "-o", str(out),
                       key=running_node.county_key)
        assert exported.returncode == 0 and "已导出 exported 4993" in exported.stdout, exported.stdout
    inbox = openpyxl.load_workbook(received, read_only=True)[OUTFLOW.value]
    headings, *records = list(inbox.iter_rows(values_only=True))
    assert headings[:2] == ("报文编号 id", "报文类型 type") and "流出人员·姓名 person.name" in headings
    assert len(records) == 4993 and {r[0] for r in records} == set(sent.values())
    lines = todo.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("事项 kind,状态 status,截止时间 due at") and len(lines) == 1 + 4993


def _result(path: Path) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(path.read_bytes())).active
    assert [c.value for c in sheet[1]] == ["行 row", "状态 status", "报文编号 id", "问题 problems"]
    return [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)]


def _inbox(node: Node, until: int = 0, timeout: float = 120) -> int:
    """How many records 改则县 has received (waiting up to `timeout` for `until` of them)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        count, cursor = 0, None
        with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {node.county_key}"}) as client:
            while True:
                page = client.get("/v1/inbox", params={"county": GERZE, "limit": 500,
                                                       **({"cursor": cursor} if cursor else {})}).json()
                count += len(page["items"])
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    break
        if count >= until or time.monotonic() > deadline:
            return count
        time.sleep(1)
