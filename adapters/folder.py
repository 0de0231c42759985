"""The folder bridge (`mpx folder`): exchange through two folders, for case systems that only read and write files (as
eDelivery's file-system plugin does).

Outgoing: each JSON (one message or a list), Excel or CSV file (the workbook rules of `mpx import`; the message type
from the file name's start or the template's sheet name) that appears in the outgoing folder is sent, then moved to
`sent/` or `failed/` with `<name>.result.json` beside it (status, ids, problems in Chinese and English). Files being
written are left alone: hidden or temporary names (`.x`, `~$x`, `x.tmp`, `x.part`) and files changed within the last
`settle` seconds. A message without an id gets one derived from the file's content and its place in it, so a file sent
again after a crash (before it was moved) carries the same ids and the node answers it as a repeat: nothing is sent
twice. A node that cannot be reached, answers 5xx, refuses the key (401) or is busy (429) leaves the file where it
is, for the next look.

Incoming: what arrives for the county (its inbox, from a cursor) is written into the incoming folder, one file per
message named after its sender and id (`<sender>_<id>.json`), each written under a hidden temporary name and renamed,
so a reader never sees half a file. The cursor is kept in the incoming folder's `.mpx-folder-<county>.json`, replaced
atomically after the files of each page are written: after a crash the page is written again under the same names.

watchfiles (the maintained watcher) says when the outgoing folder changes; it also wakes the bridge every `settle`
seconds, for files that were still settling at the last look.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from watchfiles import awatch

from adapters.client import AsyncClient, ProblemError
from adapters.workbook import BATCH, SHEET_TYPES, SheetError, read, send
from contracts import MessageType

SENT, FAILED = "sent", "failed"
#: Names of files still being written, by the conventions of the tools that write them: never read.
WRITING = re.compile(r"^(\.|~\$)|\.(tmp|temp|part|partial|crdownload|swp)$", re.IGNORECASE)
SHEETS = (".xlsx", ".xlsm", ".csv")
_NAMESPACE = uuid.UUID("0b7e4f52-3c1d-4a8e-9f60-5d2c8b1e7a93")


class Refused(ValueError):
    """A file that cannot be sent as it is (not JSON, Excel or CSV; no messages; rows with problems): to `failed/`."""

    def __init__(self, en: str, zh: str, rows: list[dict[str, Any]] | None = None):
        super().__init__(f"{zh} / {en}")
        self.en, self.zh, self.rows = en, zh, rows or []


class FolderBridge:
    def __init__(self, client: AsyncClient, county: str, outgoing: Path, incoming: Path, *, settle: float = 1.0,
                 poll: float = 2.0, say: Callable[[str], None] = print):
        self.client, self.county = client, county
        self.outgoing, self.incoming = outgoing, incoming
        self.settle, self.poll, self.say = settle, poll, say
        self.state = incoming / f".mpx-folder-{county}.json"
        for folder in (outgoing / SENT, outgoing / FAILED, incoming):
            folder.mkdir(parents=True, exist_ok=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Send and receive until `stop` is set."""
        await asyncio.gather(self._send_loop(stop), self._receive_loop(stop))

    async def _send_loop(self, stop: asyncio.Event) -> None:
        await self.send_ready()
        async for _ in awatch(self.outgoing, stop_event=stop, recursive=False, debounce=200,
                              rust_timeout=int(self.settle * 1000), yield_on_timeout=True):
            await self.send_ready()

    async def _receive_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.receive()
            except (httpx.HTTPError, ProblemError) as exc:
                self.say(f"接收暂停，稍后重试 receiving paused, will retry: {exc}")
            try:
                await asyncio.wait_for(stop.wait(), self.poll)
            except TimeoutError:
                pass

    async def send_ready(self) -> None:
        """Send every file of the outgoing folder that is complete, oldest name first."""
        now = datetime.now().timestamp()
        for path in sorted(p for p in self.outgoing.iterdir() if p.is_file() and not WRITING.search(p.name)):
            try:
                if now - path.stat().st_mtime >= self.settle:
                    await self.send_file(path)
            except FileNotFoundError:  # taken away meanwhile
                continue

    async def send_file(self, path: Path) -> None:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        result: dict[str, Any] = {"file": path.name, "sha256": digest}
        try:
            result["ids"] = await self._send(path.name, content, digest)
            folder = SENT
        except Refused as refused:
            result.update(problems=[{"message_zh": refused.zh, "message": refused.en}], rows=refused.rows)
            folder = FAILED
        except ProblemError as refused:
            if refused.status >= 500 or refused.status in (401, 429):  # the node or the key, not the file
                self.say(f"节点暂不接受，稍后重发 {path.name}: {refused.detail_zh} / the node does not take it now "
                         f"({refused.detail}), {path.name} will be sent later")
                return
            result.update(problems=[{"message_zh": refused.detail_zh, "message": refused.detail,
                                     "code": refused.code, "status": refused.status}], errors=refused.errors)
            folder = FAILED
        except httpx.HTTPError as exc:
            self.say(f"无法连接节点，稍后重发 {path.name} the node cannot be reached ({type(exc).__name__}), "
                     f"{path.name} will be sent later")
            return
        status = {SENT: ("已发送", "sent"), FAILED: ("未发送", "failed")}[folder]
        result.update(status=status[1], status_zh=status[0], at=datetime.now(UTC).isoformat())
        target = _free_name(self.outgoing / folder, path.name, digest)
        write_atomic(target.with_name(target.name + ".result.json"), _json(result))
        os.replace(path, target)
        self.say(f"{status[0]} {status[1]}: {path.name} -> {folder}/{target.name}")

    async def _send(self, name: str, content: bytes, digest: str) -> list[str]:
        """The ids of the file's messages, sent all together (a file of more than one batch: batch by batch)."""
        suffix = Path(name).suffix.lower()
        if suffix == ".json":
            messages = self._messages(content, digest)
            ids: list[str] = []
            for start in range(0, len(messages), BATCH):
                ids += await self.client.send_batch(messages[start:start + BATCH])
            return ids
        if suffix in SHEETS:
            try:
                rows = read(content, name, _sheet_type(name, content), self.county)
            except SheetError as refused:
                raise Refused(refused.en, refused.zh) from None
            bad = [{"row": row.number, "problems": row.problems} for row in rows if row.problems]
            if bad:
                raise Refused(f"{len(bad)} rows have problems: nothing sent", f"{len(bad)} 行有误，未发送", bad)
            if not rows:
                raise Refused("the sheet has no rows", "表中没有数据行")
            return list((await send(rows, self.client.send_batch, digest)).values())
        raise Refused("only .json, .xlsx and .csv files are sent", "只发送 .json、.xlsx 和 .csv 文件")

    def _messages(self, content: bytes, digest: str) -> list[dict[str, Any]]:
        """A JSON file's messages: the county as sender where none is given, an id from the content where none is."""
        try:
            given = json.loads(content)
        except (UnicodeDecodeError, ValueError):
            raise Refused("not a JSON file", "不是有效的 JSON 文件") from None
        given = [given] if isinstance(given, dict) else given
        if not isinstance(given, list) or not given or not all(isinstance(m, dict) for m in given):
            raise Refused("a JSON file holds one message (an object) or a list of them",
                          "JSON 文件应为一个报文（对象）或报文列表")
        return [{"sender": self.county, **m, "id": m.get("id") or str(uuid.uuid5(_NAMESPACE, f"{digest}/{i}"))}
                for i, m in enumerate(given)]

    async def receive(self) -> int:
        """Write what arrived since the saved cursor into the incoming folder; how many files were written."""
        cursor = json.loads(self.state.read_text())["cursor"] if self.state.exists() else None
        written = 0
        async for page in self.client.inbox_pages(county=self.county, cursor=cursor):
            for item in page["items"]:
                write_atomic(self.incoming / incoming_name(item), _json(item))
                written += 1
            if page["next_cursor"] != cursor:
                cursor = page["next_cursor"]
                write_atomic(self.state, _json({"cursor": cursor}))
        if written:
            self.say(f"已接收 received {written}")
        return written


def incoming_name(item: dict[str, Any]) -> str:
    """The file a received message is written to: its sender and id (ids are each sender's own), so that writing it
    again after a crash is the same file."""
    return f"{item['sender']}_{re.sub(r'[^A-Za-z0-9._-]', '_', item['id'])}.json"


def _sheet_type(name: str, content: bytes) -> MessageType:
    """A sheet's message type: the start of its file name (`outflow_registration-三月.xlsx`), else the workbook's first
    sheet's name (the template's)."""
    for kind in sorted(SHEET_TYPES, key=len, reverse=True):
        if name.startswith(kind.value):
            return kind
    if Path(name).suffix.lower() != ".csv":
        from openpyxl import load_workbook

        try:
            title = load_workbook(io.BytesIO(content), read_only=True).worksheets[0].title
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a file that is no workbook
            raise Refused("not an Excel workbook (.xlsx)", "不是 Excel 工作簿（.xlsx）") from None
        if title in {kind.value for kind in SHEET_TYPES}:
            return MessageType(title)
    raise Refused("which message type? Start the file name with it (outflow_registration-….xlsx)",
                  "无法确定报文类型：文件名请以报文类型开头（如 outflow_registration-….xlsx）")


def _free_name(folder: Path, name: str, digest: str) -> Path:
    """`folder/name`, unless another file of that name is there: then the name with the content's digest added."""
    target = folder / name
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        return folder / f"{Path(name).stem}-{digest[:12]}{Path(name).suffix}"
    return target


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode()


def write_atomic(path: Path, content: bytes) -> None:
    """Write a file whole or not at all: a hidden temporary file beside it, flushed to disk, renamed over it."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
