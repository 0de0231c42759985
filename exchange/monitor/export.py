"""CSV and Excel (.xlsx) renderings of monitor answers: what provincial offices file."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

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
}


def table_of(answer: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The rows of a timeliness or overdue answer, with the total as the last row of a timeliness table."""
    if "groups" in answer:
        rows = [*answer["groups"], {"group": "合计 total", **answer["total"]}]
    else:
        rows = answer["items"]
    columns = [c for c in HEADINGS if any(c in r for r in rows)] if rows else ["group"]
    return [HEADINGS[c] for c in columns], [[r.get(c) for c in columns] for r in rows]


def to_csv(answer: dict[str, Any]) -> bytes:
    headings, rows = table_of(answer)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headings)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(answer: dict[str, Any], title: str) -> bytes:
    headings, rows = table_of(answer)
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(headings)
    for row in rows:
        sheet.append(row)
    sheet.append([])
    sheet.append([f"as of {answer.get('as_of')}", answer.get("cohort", "")])
    for name, definition in answer.get("definitions", {}).items():
        sheet.append([name, definition])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
