"""CSV and Excel (.xlsx) renderings of monitor answers and of a county's to-do list: what offices file and work
through.

Offices open these in a spreadsheet, and some texts in them come from other nodes (message ids chosen by any
county's system, figures from the monitoring topic). A text a spreadsheet would run as a formula (OWASP CSV
injection: it starts with =, +, -, @, a tab or a carriage return) is handed over as text: in CSV behind a single
quote, in Excel as a string cell marked quote-prefixed. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

# Column headings in both languages, for the people who file these reports.
HEADINGS = {
    "group": "分组 group", "name": "名称 name", "due": "应反馈 due", "answered": "已反馈 answered",
    "answered_on_time": "及时反馈 on time", "answered_late": "逾期反馈 late", "overdue_open": "逾期未反馈 overdue",
    "open_not_due": "未到期 open", "cancelled": "已撤销 cancelled", "feedback_rate": "反馈率 feedback rate",
    "on_time_rate": "及时反馈率 on-time rate", "median_response_working_days": "响应中位数(工作日) median days",
    "p90_response_working_days": "响应P90(工作日) p90 days", "sent_on_time": "按时发送 sent on time",
    "sent_late": "逾期发送 sent late", "message_id": "报文编号 message id", "message_type": "报文类型 type",
    "sender": "发送地 sender", "receiver": "接收地 receiver", "due_at": "截止时间 due at", "due_day": "截止日 due day",
    "working_days_overdue": "逾期工作日 working days overdue",
    # a period still running: what can be judged already (deadline passed), and what is not yet due
    "headline_feedback_rate": "主要反馈率 headline feedback rate",
    "headline_on_time_rate": "主要及时反馈率 headline on-time rate",
    "assessable_due": "已到截止期 assessable due", "assessable_answered": "已到截止期已反馈 assessable answered",
    "assessable_answered_on_time": "已到截止期及时反馈 assessable on time",
    "assessable_answered_late": "已到截止期逾期反馈 assessable late",
    "assessable_feedback_rate": "可考核反馈率 assessable feedback rate",
    "assessable_on_time_rate": "可考核及时反馈率 assessable on-time rate",
    "not_yet_due": "未到截止期 not yet due", "not_yet_due_answered": "未到截止期已反馈 not yet due, answered",
    "withdrawn": "已撤回 withdrawn",
    "clarified": "请求过补充说明 clarified", "clarification_rate": "补充说明率 clarification rate",
    "paused_working_days": "暂停工作日合计 paused working days",
    "mean_paused_working_days": "平均暂停工作日 mean paused working days",
    # the monthly roster check (定期清查)
    "registration_county": "户籍地 registration county", "registration_name": "户籍地名称 registration name",
    "residence_county": "现居住地 residence county", "residence_name": "现居住地名称 residence name",
    "entries": "名单人数 on the roster", "still_here": "仍在本地 still here", "left": "已离开 left",
    "never_arrived": "未到达 never arrived", "unknown": "情况不明 unknown", "match_rate": "清查匹配率 match rate",
    "parts": "名单部分数 parts", "parts_answered": "已反馈部分数 parts answered", "answered_at": "反馈时间 answered at",
    # a county's to-do list (待办)
    "kind": "事项 kind", "status": "状态 status", "record_id": "所涉报文 record", "received_at": "收到时间 received at",
    "next_step": "下一步 next step", "href": "办理入口 where",
}

#: The monthly bulletin's columns, in the order offices read them.
BULLETIN_HEADINGS = {
    "rank": "排名 rank", "county": "县区代码 county", "name": "县区 name", "received": "收到(应反馈) received",
    "sent": "发出 sent", "answered": "已反馈 answered", "answered_on_time": "及时反馈 on time",
    "answered_late": "逾期反馈 late", "overdue_at_month_end": "月末逾期未反馈 overdue at month end",
    "withdrawn": "已撤回 withdrawn", "on_time_rate": "及时反馈率 on-time rate",
    "previous_on_time_rate": "上月及时反馈率 previous month's rate",
    "change_points": "较上月变化(百分点) change (percentage points)",
}

Format = Literal["json", "csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Besides the JSON model: the same answer as a spreadsheet (the response of `render`).
TABLES = {200: {"content": {"text/csv": {"schema": {"type": "string"}},
                            XLSX: {"schema": {"type": "string", "format": "binary"}}},
                "description": "JSON, or with format=csv or xlsx the same answer as a table (a download)."}}


def table_of(answer: dict[str, Any], columns: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """The rows of a timeliness, overdue, bulletin or roster answer, with the total as the last row of a timeliness
    table, a bulletin or a roster table; `columns`: these, in this order (else those of the headings the rows have)."""
    headings = HEADINGS
    if "groups" in answer:
        rows = [*answer["groups"], {"group": "合计 total", **answer["total"]}]
    elif "counties" in answer:
        rows, headings = [*answer["counties"], {**answer["total"], "county": "合计 total"}], BULLETIN_HEADINGS
    elif "pairs" in answer:  # the roster check: pairs, then the total
        rows = [*answer["pairs"], {"registration_county": "合计 total", **answer["total"]}]
    else:
        rows = answer["items"]
    if columns is None:
        columns = [c for c in headings if any(c in r for r in rows)] if rows else ["group"]
    return [headings[c] for c in columns], [[r.get(c) for c in columns] for r in rows]


#: How a text starts that a spreadsheet would evaluate (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: object) -> object:
    """A text a spreadsheet would run, behind a single quote; anything else as it is."""
    return "'" + value if formula_like(value) else value


def to_csv(answer: dict[str, Any], columns: list[str] | None = None) -> bytes:
    headings, rows = table_of(answer, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headings)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(answer: dict[str, Any], title: str, columns: list[str] | None = None) -> bytes:
    headings, rows = table_of(answer, columns)
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    _append(sheet, headings)
    for row in rows:
        _append(sheet, row)
    sheet.append([])
    _append(sheet, [f"as of {answer.get('as_of')}", answer.get("cohort", "")])
    if "ranking" in answer:  # a bulletin
        _append(sheet, [f"月份 month {answer['month']}", f"排名 ranking: {answer['ranking']}"])
    for name, definition in answer.get("definitions", {}).items():
        _append(sheet, [name, definition])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(answer: dict[str, Any], fmt: Format, name: str,
           columns: list[str] | None = None) -> Response | dict[str, Any]:
    """The answer in the format asked: a table is a response of its own, as its media type depends on the query;
    JSON is validated against the route's model and written like any answer."""
    if fmt == "csv":
        return Response(to_csv(answer, columns), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(to_xlsx(answer, name, columns), media_type=XLSX,
                        headers={"content-disposition": f'attachment; filename="{name}.xlsx"'})
    return answer


def _append(sheet: Worksheet, row: list[Any]) -> None:
    """Append a row whose texts are string cells: openpyxl would store a text starting with = as a formula.
    One a spreadsheet would run is also quote-prefixed, so that editing it in Excel keeps it text."""
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if formula_like(cell.value):
                cell.quotePrefix = True
