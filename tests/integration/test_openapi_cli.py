"""Schemathesis' own CLI, run as an outside tester runs it, against a running node (its own process, PostgreSQL, the
session's Apache Kafka): every check, every phase (examples, coverage, fuzzing, stateful), no failure.

The document is the contract a client is generated from, so a request it allows is one the node takes (or refuses
for what it holds: 403, 404, 409), and one it forbids is refused. What JSON Schema cannot say of the contracts
(an ID number's check character, one date after another) is told to Schemathesis in tests/schemathesis_hooks.py;
tests/schemathesis.toml turns off one heuristic that misreads the node's field errors (it says why).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import test_key as new_api_key
from tests.integration.test_round_trip import GERZE, HUI

REPO = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")
ADMIN = "cli-fuzz-admin-token"


@dataclass
class Node:
    url: str
    county_key: str


@pytest.fixture(scope="module")
def running_node(kafka_bootstrap: str, make_postgres_database, tmp_path_factory) -> Iterator[Node]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = new_api_key()
    env = {**os.environ, "MPX_NODE_ID": "cli-fuzz", "MPX_COUNTIES": f"{HUI},{GERZE}", "MPX_PORT": str(port),
           "DATABASE_URL": make_postgres_database(), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "MPX_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}", "MPX_BOOTSTRAP_KEY": key, "MPX_ADMIN_TOKEN": ADMIN,
           "MPX_RATE_LIMIT_PER_MINUTE": "0", "MPX_ADDRESS_REFUSALS_PER_MINUTE": "0", "MPX_RECONCILE_AT": ""}
    log = tmp_path_factory.mktemp("cli-fuzz") / "node.log"
    with open(log, "wb") as out:
        node = subprocess.Popen([sys.executable, "-m", "exchange.entrypoints.cli", "node"], env=env, cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert node.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        yield Node(f"http://127.0.0.1:{port}", key)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(40)
        except subprocess.TimeoutExpired:
            node.kill()


@pytest.mark.parametrize("caller", ["county system", "admin"])
def test_schemathesis_cli_finds_no_failure_in_any_phase(running_node: Node, caller: str) -> None:
    token = running_node.county_key if caller == "county system" else ADMIN
    result = subprocess.run(
        [str(ST), "--config-file", str(REPO / "tests" / "schemathesis.toml"), "--no-color", "run",
         f"{running_node.url}/openapi.json", "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "-H", f"Authorization: Bearer {token}", "--max-examples", "30", "--seed", "2026"],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(REPO)},
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", result.stdout).groups())
    assert generated == passed > 1000, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅\s+{phase}", result.stdout), f"{phase} did not run and pass:\n{report}"
