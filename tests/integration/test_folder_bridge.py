"""The folder bridge (`mpx folder`) as a system that only reads and writes files uses it: its own process, a running
node (its own process, PostgreSQL, the session's Apache Kafka) serving 徽县 621227 and its counterpart 改则县 542526.

Files put in out/ (one JSON message, a JSON list, an Excel sheet) reach 542526 and move to sent/ with a result beside;
a file with a bad ID number moves to failed/ with the reason in Chinese; a file still being written (a temporary
name) is left alone until it is renamed. What 542526 sends to 621227 appears in in/, a file per message. The bridge
is killed (SIGKILL) in the middle of a batch of files and of arrivals and started again: every message reaches
542526 once, every arrival is in in/ once, none is missing; a file sent but not yet moved when the bridge died is
sent again with the same ids, which the node answers as the repeat it is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters import Client, message
from contracts import MessageType
from contracts.examples import example_payload
from tests.integration.test_excel_import import sheet_of
from tests.integration.test_openapi_cli import REPO, Node, running_node  # noqa: F401 - the node, a fixture
from tests.integration.test_round_trip import GERZE, HUI

pytestmark = pytest.mark.integration
OUTFLOW, CHECK = MessageType.OUTFLOW_REGISTRATION, MessageType.PREGNANCY_CHECK


def outflow(seed: int) -> dict[str, Any]:
    """A registration 621227's system writes, without an id (the bridge derives one from the file)."""
    return {"type": OUTFLOW.value, "receiver": GERZE, "data": example_payload(
        OUTFLOW, seed=seed, registration_region=HUI, residence_region=GERZE)}


def check_from_gerze(seed: int) -> dict[str, Any]:
    return message(CHECK, GERZE, HUI, example_payload(CHECK, seed=seed, registration_region=HUI,
                                                      residence_region=GERZE))


def drop(folder: Path, name: str, content: Any) -> None:
    """Put a file in the folder the way a careful writer does: under a temporary name, then renamed."""
    temp = folder / f"{name}.part"
    temp.write_bytes(content if isinstance(content, bytes) else json.dumps(content, ensure_ascii=False).encode())
    temp.rename(folder / name)


def until(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def names(folder: Path) -> set[str]:
    """The files a reader sees (not hidden), results aside."""
    return {p.name for p in (folder.iterdir() if folder.exists() else ()) if p.is_file()
            and not p.name.startswith(".") and not p.name.endswith(".result.json")}


def results(folder: Path) -> dict[str, dict]:
    return {p.name.removesuffix(".result.json"): json.loads(p.read_text()) for p in folder.glob("*.result.json")}


def test_files_go_out_and_come_in_once_each_across_a_kill(running_node: Node, tmp_path: Path) -> None:  # noqa: F811
    out, incoming, log = tmp_path / "out", tmp_path / "in", tmp_path / "bridge.log"
    out.mkdir()

    def start() -> subprocess.Popen:
        with open(log, "ab") as to:
            return subprocess.Popen(
                [sys.executable, "-m", "exchange.entrypoints.cli", "folder", "--county", HUI, "--out", str(out),
                 "--in", str(incoming), "--url", running_node.url, "--settle", "0.2", "--poll", "0.3"],
                cwd=REPO, env={**os.environ, "MPX_API_KEY": running_node.county_key, "COLUMNS": "200"},
                stdin=subprocess.DEVNULL, stdout=to, stderr=subprocess.STDOUT)

    bridge = start()
    node = Client(running_node.url, api_key=running_node.county_key)
    try:
        # What 621227's system puts out: one message, a list, a sheet, a bad record, a file still being written.
        drop(out, "one.json", outflow(1))
        drop(out, "list.json", [outflow(2), outflow(3), outflow(4)])
        sheet_of(2, tmp_path / "registrations.xlsx")
        drop(out, "registrations.xlsx", (tmp_path / "registrations.xlsx").read_bytes())
        bad = outflow(5)
        bad["data"]["person"]["id_number"] = bad["data"]["person"]["id_number"][:-1] + (
            "1" if bad["data"]["person"]["id_number"][-1] == "0" else "0")
        drop(out, "bad.json", bad)
        (out / "later.json.part").write_text(json.dumps(outflow(6)))
        arrivals = [node.send(check_from_gerze(seed)) for seed in range(1, 4)]

        sent = until(lambda: names(out / "sent") >= {"one.json", "list.json", "registrations.xlsx"} and
                     "bad.json" in names(out / "failed") and results(out / "sent"), "the first files sent",
                     timeout=40)
        assert names(out) == {"later.json.part"}  # a file being written is left alone
        assert [len(sent[n]["ids"]) for n in ("one.json", "list.json", "registrations.xlsx")] == [1, 3, 2]
        assert sent["one.json"]["status_zh"] == "已发送" and sent["one.json"]["status"] == "sent"
        failed = results(out / "failed")["bad.json"]
        assert failed["status_zh"] == "未发送" and failed["problems"][0]["message_zh"] == "报文未通过校验"
        assert [e["message_zh"] for e in failed["errors"]] == ["公民身份号码校验码错误"]
        (out / "later.json.part").rename(out / "later.json")
        until(lambda: "later.json" in names(out / "sent"), "the renamed file sent")
        until(lambda: len(names(incoming)) == 3, "the first arrivals in in/")

        # A batch of files and of arrivals; the bridge is killed in the middle and started again.
        for n in range(30):
            drop(out, f"batch-{n:02}.json", outflow(100 + n))
        arrivals += [node.send(check_from_gerze(seed)) for seed in range(10, 20)]
        until(lambda: len(names(out / "sent")) >= 4 + 3, "a few of the batch sent", timeout=40)
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        left = {n for n in names(out) if n.startswith("batch-")}
        assert left, "the bridge was to be killed in the middle of the batch"
        bridge = start()
        until(lambda: not names(out) and len(names(incoming)) == len(arrivals), "the rest after the restart",
              timeout=40)

        # A kill between sending a file and moving it leaves the file in out/: sent again, it is the same messages.
        before = results(out / "sent")["list.json"]["ids"]
        drop(out, "list.json", (out / "sent" / "list.json").read_bytes())
        until(lambda: not names(out), "the file sent again")
        assert results(out / "sent")["list.json"]["ids"] == before

        every = results(out / "sent")
        ids = [i for result in every.values() for i in result["ids"]]
        assert len(every) == 4 + 30 and len(ids) == 1 + 3 + 2 + 1 + 30 == len(set(ids))
        until(lambda: set(ids) <= {i["id"] for i in node.iter_inbox(county=GERZE)}, "every message at 542526")
        at_gerze = [i["id"] for i in node.iter_inbox(county=GERZE)]
        assert sorted(at_gerze) == sorted(ids)  # each once, nothing sent twice under another id
        assert names(incoming) == {f"{GERZE}_{i}.json" for i in arrivals}
        assert {json.loads((incoming / f"{GERZE}_{i}.json").read_text())["id"] for i in arrivals} == set(arrivals)
    finally:
        node.close()
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(10)
        except subprocess.TimeoutExpired:
            bridge.kill()
    assert bridge.returncode == 0, log.read_text()[-3000:]
