"""The README's quick start, run line by line as written against a fresh `make run`, so that it cannot rot.

The block marked ```sh quick-start is taken from README.md and each command line run in bash in order (variables
carried from line to line, as in one terminal). Only where `make run` is differs: this federation's ports and
folder stand for 8100-8103 and var/run/, and the test's virtualenv for .venv/. A line that reads what another
county sends is run again for a while until it shows it, as a person would look again a second later.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.newcomer.conftest import LocalFederation, has_chinese

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    [block] = re.findall(r"```sh quick-start\n(.*?)```", readme, re.S)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def here(line: str, fed: LocalFederation) -> str:
    """The line for this federation: its ports for make run's, its folder for var/run/, this virtualenv."""
    for county in ("621227", "542526", "330203"):
        line = line.replace(f"http://127.0.0.1:{8101 + ('621227', '542526', '330203').index(county)}", fed.url(county))
    line = line.replace("http://127.0.0.1:8100", fed.monitor_url)
    return line.replace("var/run/", f"{fed.var}/").replace(".venv/bin/", f"{Path(sys.executable).parent}/")


def run(line: str, state: Path, cwd: Path) -> tuple[int, str]:
    script = f"set -a\n[ -f {state} ] && . {state}\n{line}\nexport -p > {state}\n"
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, done.stdout + done.stderr


def variable(state: Path, name: str) -> str:
    return re.search(rf'^declare -x {name}="([^"]*)"', state.read_text(), re.M).group(1)  # type: ignore[union-attr]


def test_the_quick_start_goes_from_a_record_sent_to_its_answer_seen(local_federation: LocalFederation,
                                                                   tmp_path: Path):
    state = tmp_path / "terminal.sh"
    record = lambda: variable(state, "ID")  # noqa: E731

    def sent(out: str) -> bool:
        return json.loads(out) == {"id": record(), "state": "accepted"}

    def accepted(out: str) -> bool:
        return json.loads(out)["state"] == "accepted"

    def in_inbox(out: str) -> bool:
        return record() in [item["id"] for item in json.loads(out)["items"]]

    def answered(out: str) -> bool:
        view = json.loads(out)
        return view["id"] == record() and view["state"] == "answered" and view["feedback"]

    def on_the_monitor(out: str) -> bool:
        total = json.loads(out)["total"]
        return (total["due"], total["answered"], total["not_yet_due"], total["not_yet_due_answered"],
                total["assessable_due"], total["headline_feedback_rate"]) == (1, 1, 1, 1, 0, None)

    # What each curl line of the quick start must show, in order.
    expectations: list[tuple[str, Callable[[str], bool], float]] = [
        ("send the outflow registration at 621227", sent, 0),
        ("read it in 330203's inbox", in_inbox, 30),
        ("answer it at 330203", accepted, 0),
        ("see it answered at 621227", answered, 30),
        ("see it on the monitor", on_the_monitor, 60),
    ]
    lines = quick_start()
    assert sum("curl " in line for line in lines) == len(expectations), lines
    steps = iter(expectations)
    for line in lines:
        command = here(line, local_federation)
        if "curl " not in line:
            code, out = run(command, state, tmp_path)
            assert code == 0, (line, out)
            continue
        what, shows, patience = next(steps)
        deadline = time.monotonic() + patience
        while True:
            code, out = run(command, state, tmp_path)
            try:
                ok = code == 0 and bool(shows(out))
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(f"{what} ({patience - (deadline - time.monotonic()):.1f} s): {out[:300]}")
        assert ok, (what, line, out)
    # the body `mpx example` printed was complete: a real person's record, as the contract wants it
    sent = json.loads((tmp_path / "outflow.json").read_text())
    assert sent["id"] == record() and sent["data"]["person"]["id_number"] and sent["data"]["destination_region"] \
        == "330203"


def test_make_run_greets_in_chinese_and_english(local_federation: LocalFederation):
    banner = local_federation.banner
    assert len(banner) >= 5, banner
    for line in banner:
        assert has_chinese(line) and re.search(r"[A-Za-z]{4}", line), line
    for county in ("621227", "542526", "330203"):
        assert any(line.startswith(county) and local_federation.key(county) in line for line in banner), county
