"""Excel for the people at the counter: a template per message type, and reading a filled-in sheet back as messages.

The columns are the contract's fields (contracts/schemas/<version>/<type>.json), flattened (`person.name`), each headed
in Chinese with its path beside it (姓名 person.name); closed lists are drop-downs, dates are dates, and the second
row is an example. Reading a sheet checks every row with the same contract as the node does, and says what is wrong
by row and column in Chinese and English. Written here because no maintained package maps a JSON Schema to a
spreadsheet; openpyxl does the files.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from contracts import CURRENT_VERSIONS, RECORD_TYPES, MessageType, payload_model, validate_payload
from contracts.errors import describe_errors
from contracts.examples import example_payload

#: What a sheet may hold: the records a county sends, and feedback (which names the record it answers).
SHEET_TYPES = sorted(RECORD_TYPES | {MessageType.FEEDBACK})
#: Most rows one file may hold: a larger one is refused before any row is read (split it).
MAX_ROWS = 100_000
YES, NO = ("是", "true", "yes", "1"), ("否", "false", "no", "0")


class SheetError(ValueError):
    """A file that cannot be read as a sheet of this type (not Excel or CSV, unknown columns, too many rows): nothing
    in it is sent."""

    def __init__(self, en: str, zh: str):
        super().__init__(f"{zh} / {en}")
        self.en, self.zh = en, zh


@dataclass(frozen=True)
class Column:
    path: tuple[str, ...]
    heading: str
    kind: str  # string, date, integer, boolean, list
    choices: tuple[str, ...] = ()
    required: bool = False

    @property
    def key(self) -> str:
        return ".".join(self.path)


#: The message's own columns, before the payload's.
ID = Column(("id",), "报文编号 id", "string")
RECEIVER = Column(("receiver",), "接收地 receiver", "string", required=True)
IN_REPLY_TO = Column(("in_reply_to",), "答复报文编号 in_reply_to", "string", required=True)


def columns(message_type: MessageType) -> list[Column]:
    """The sheet's columns for `message_type`: id, receiver (and the record answered, for feedback), the payload."""
    schema = payload_model(message_type, CURRENT_VERSIONS[message_type]).model_json_schema()
    own = [ID, RECEIVER, *([IN_REPLY_TO] if message_type is MessageType.FEEDBACK else [])]
    return own + list(_leaves(schema, schema, (), "", True))


def _leaves(node: dict[str, Any], root: dict[str, Any], path: tuple[str, ...], parent_zh: str,
            required: bool) -> Iterator[Column]:
    for name, prop in node.get("properties", {}).items():
        prop = _resolved(prop, root)
        zh = (prop.get("description") or name).split(" — ")[0]
        label = f"{parent_zh}·{zh}" if parent_zh else zh
        needed = required and name in node.get("required", [])
        if "properties" in prop:
            yield from _leaves(prop, root, (*path, name), label, needed)
            continue
        items = _resolved(prop.get("items", {}), root)
        kind = ("list" if prop.get("type") == "array" else "date" if prop.get("format") == "date"
                else prop.get("type") if prop.get("type") in ("integer", "boolean") else "string")
        choices = tuple(items.get("enum", ()) if kind == "list" else prop.get("enum", ()))
        yield Column((*path, name), f"{label} {'.'.join((*path, name))}", kind, choices, needed)


def _resolved(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A property with its $ref followed and an optional (anyOf with null) unwrapped, keeping its description."""
    if "anyOf" in prop:
        options = [o for o in prop["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            prop = {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    if "$ref" in prop:
        target = root["$defs"][prop["$ref"].rsplit("/", 1)[1]]
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def template(message_type: MessageType) -> bytes:
    """An .xlsx to fill in: Chinese headings (path beside), an example row, drop-downs for closed lists."""
    cols = columns(message_type)
    book = Workbook()
    sheet = book.active
    sheet.title = message_type.value
    lists = book.create_sheet("lists 选项")
    sheet.append([c.heading for c in cols])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    example = flatten({"receiver": "330203", **({"in_reply_to": "hui-2026-000123"}
                                                if message_type is MessageType.FEEDBACK else {}),
                       **example_payload(message_type)})
    sheet.append([_cell(example.get(c.key), c) for c in cols])
    for index, col in enumerate(cols, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(col.heading) + 4)
        choices = ["是", "否"] if col.kind == "boolean" else list(col.choices) if col.kind != "list" else []
        if choices:  # on a sheet of their own: Excel's inline lists stop at 255 characters
            for row, value in enumerate(choices, start=1):
                lists.cell(row=row, column=index, value=value)
            rule = DataValidation(type="list", allow_blank=not col.required, formula1=(
                f"{quote_sheetname(lists.title)}!${letter}$1:${letter}${len(choices)}"))
            rule.error, rule.errorTitle = "请从下拉列表中选择 / choose from the list", col.heading
            sheet.add_data_validation(rule)
            rule.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        if col.kind == "date":  # the example's date shown as the offices write it
            sheet.cell(row=2, column=index).number_format = "yyyy-mm-dd"
    lists.sheet_state = "hidden"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"person": {"name": …}}` as `{"person.name": …}`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any, col: Column) -> Any:
    if value is None:
        return None
    if col.kind == "date":
        return date.fromisoformat(value)
    if col.kind == "boolean":
        return "是" if value else "否"
    if col.kind == "list":
        return ",".join(value)
    return value


@dataclass
class Row:
    """One row read back: its number in the sheet (the headings are row 1), the message, what is wrong with it."""

    number: int
    message: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def read(content: bytes, filename: str, message_type: MessageType, sender: str) -> list[Row]:
    """Every row of an .xlsx or .csv of `message_type`, as the message `sender` would post, checked with the contract.
    Raises SheetError (and so sends nothing) for a file that is no such sheet."""
    cols = {c.key: c for c in columns(message_type)}
    table = _table(content, filename)
    headings = next(table, None)
    if headings is None:
        raise SheetError("the file is empty", "文件为空")
    keys = []
    for heading in headings:
        key = str(heading or "").strip().rsplit(" ", 1)[-1]
        if key not in cols:
            raise SheetError(f"unknown column {heading!r}: download the template (mpx template {message_type})",
                             f"未知的列「{heading}」：请使用模板（mpx template {message_type}）")
        keys.append(key)
    rows = []
    for number, values in enumerate(table, start=2):
        if number > MAX_ROWS + 1:
            raise SheetError(f"more than {MAX_ROWS} rows: split the file", f"超过 {MAX_ROWS} 行，请拆分文件")
        if all(v in (None, "") for v in values):
            continue
        rows.append(_row(number, dict(zip(keys, values)), cols, message_type, sender))
    return rows


def _table(content: bytes, filename: str) -> Iterator[list[Any]]:
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        try:
            return iter(list(csv.reader(io.StringIO(content.decode("utf-8-sig")))))
        except UnicodeDecodeError:
            raise SheetError("a CSV file must be UTF-8", "CSV 文件须为 UTF-8 编码") from None
    if suffix in (".xlsx", ".xlsm"):
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a file that is no workbook
            raise SheetError("not an Excel workbook (.xlsx)", "不是 Excel 工作簿（.xlsx）") from None
        return (list(r) for r in book.worksheets[0].iter_rows(values_only=True))
    raise SheetError("only .xlsx and .csv files are read", "只能读取 .xlsx 和 .csv 文件")


def _row(number: int, cells: dict[str, Any], cols: dict[str, Column], message_type: MessageType,
         sender: str) -> Row:
    problems: list[str] = []
    data: dict[str, Any] = {}
    for key, raw in cells.items():
        col = cols[key]
        try:
            value = cell_value(raw, col)
        except ValueError:
            problems.append(f"{col.heading}：取值无效 / not a valid {col.kind}")
            continue
        if value is None:
            continue
        target = data
        for part in col.path[:-1]:
            target = target.setdefault(part, {})
        target[col.path[-1]] = value
    message = {"type": message_type.value, "schema_version": CURRENT_VERSIONS[message_type], "sender": sender,
               **{k: data.pop(k) for k in ("id", "receiver", "in_reply_to") if k in data}, "data": data}
    if not problems:
        try:
            validate_payload(message_type, CURRENT_VERSIONS[message_type], data)
        except ValidationError as exc:
            for error in describe_errors(exc):
                where = ".".join(str(p) for p in error["loc"])
                heading = cols[where].heading if where in cols else where or "整行 row"
                problems.append(f"{heading}：{error['message_zh']} / {error['message_en']}")
    if "receiver" not in message:
        problems.append(f"{RECEIVER.heading}：必填 / required")
    return Row(number, message, problems)


def cell_value(raw: Any, col: Column) -> Any:
    """A cell as the contract's JSON has it; None for an empty cell. ValueError if it is not of the column's kind."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if col.kind == "date":
        if isinstance(raw, datetime):
            return raw.date().isoformat()
        if isinstance(raw, date):
            return raw.isoformat()
        return date.fromisoformat(str(raw).strip()).isoformat()
    if col.kind == "integer":
        number = float(raw) if not isinstance(raw, int) else raw
        if number != int(number):
            raise ValueError
        return int(number)
    if col.kind == "boolean":
        text = str(raw).strip().lower()
        if text in YES or raw is True:
            return True
        if text in NO or raw is False:
            return False
        raise ValueError
    if col.kind == "list":
        return [part.strip() for part in str(raw).replace("，", ",").split(",") if part.strip()]
    if isinstance(raw, float) and raw == int(raw):
        return str(int(raw))  # a code or number Excel stored as a number
    return str(raw).strip()


#: Messages per request when a sheet is sent (the node takes up to MPX_MAX_BATCH, 1000 by default).
BATCH = 500
_NAMESPACE = uuid.UUID("6f1c2b3a-9d4e-4c51-8a7f-2e0b5d9c1a47")


def row_id(digest: str, row: Row) -> str:
    """A row's message id when the sheet gives none: the same file's same row always gets the same id, so importing a
    file again sends nothing twice (the node answers the same ids)."""
    return row.message.get("id") or str(uuid.uuid5(_NAMESPACE, f"{digest}/{row.number}"))


async def send(rows: list[Row], post: Callable[[list[dict[str, Any]]], Awaitable[list[str]]], digest: str,
               advance: Callable[[int], None] = lambda n: None) -> dict[int, str]:
    """Post the rows without problems, a batch at a time (`post`: the client's send_batch); their ids by row number."""
    sent: dict[int, str] = {}
    good = [row for row in rows if not row.problems]
    for start in range(0, len(good), BATCH):
        chunk = good[start:start + BATCH]
        ids = await post([{**row.message, "id": row_id(digest, row)} for row in chunk])
        sent.update((row.number, message_id) for row, message_id in zip(chunk, ids))
        advance(len(chunk))
    return sent


def result(rows: list[Row], sent: dict[int, str]) -> bytes:
    """The result workbook: per row its status (已发送 sent, 有误 refused, 未发送 not sent), its id and its problems."""
    book = Workbook()
    sheet = book.active
    sheet.title = "result 结果"
    sheet.append(["行 row", "状态 status", "报文编号 id", "问题 problems"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        status = "已发送 sent" if row.number in sent else "有误 refused" if row.problems else "未发送 not sent"
        sheet.append([row.number, status, sent.get(row.number), "；".join(row.problems) or None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


#: The columns of an exported message, before its payload's (those of the type's template).
MESSAGE_HEADINGS = {"id": "报文编号 id", "type": "报文类型 type", "sender": "发送地 sender", "receiver": "接收地 receiver",
                    "state": "状态 state", "in_reply_to": "答复报文编号 in_reply_to", "received_at": "收到时间 received at",
                    "answered_at": "反馈时间 answered at", "withdrawn_at": "撤回时间 withdrawn at"}
#: The columns of an exported to-do item.
ITEM_HEADINGS = {"kind_label": "事项 kind", "status_label": "状态 status", "due_at": "截止时间 due at",
                 "message_id": "报文编号 message id", "record_id": "所涉报文 record", "message_type": "报文类型 type",
                 "sender": "发送地 sender", "receiver": "接收地 receiver", "urgency": "紧急程度 urgency",
                 "received_at": "收到时间 received at", "next.zh": "下一步 next step", "next.href": "办理入口 where"}


def export_tables(what: str, items: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The tables of an export, by sheet name: the inbox one per message type (its payload's columns after the
    message's), the to-do list one. Each table: headings (Chinese and English), rows."""
    if what == "worklist":
        return {"worklist 待办": (list(ITEM_HEADINGS.values()),
                                [[flatten(i).get(k) for k in ITEM_HEADINGS] for i in items])}
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
    for message_type in sorted({i["type"] for i in items}):
        payload = columns(MessageType(message_type))[2:] if message_type in SHEET_TYPES else []
        headings = [*MESSAGE_HEADINGS.values(), *(c.heading for c in payload if c.key != "in_reply_to")]
        keys = [*MESSAGE_HEADINGS, *(f"data.{c.key}" for c in payload if c.key != "in_reply_to")]
        rows = [[_plain(flatten(i).get(k)) for k in keys] for i in items if i["type"] == message_type]
        tables[message_type] = (headings, rows)
    return tables


def _plain(value: Any) -> Any:
    return ",".join(value) if isinstance(value, list) else value


def export_xlsx(tables: dict[str, tuple[list[str], list[list[Any]]]]) -> bytes:
    book = Workbook(write_only=True)
    for name, (headings, rows) in tables.items() or {"空 empty": ([], [])}.items():
        sheet = book.create_sheet(name[:31])
        sheet.append(headings)
        for row in rows:
            sheet.append([_text(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_csv(table: tuple[list[str], list[list[Any]]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table[0])
    writer.writerows([_text(v) for v in row] for row in table[1])
    return out.getvalue().encode("utf-8-sig")  # the BOM: Excel opens UTF-8 CSV as such only with it


def _text(value: Any) -> Any:
    """A value as a cell: a text a spreadsheet would run as a formula is kept as text (OWASP: CSV injection)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value
