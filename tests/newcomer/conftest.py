"""A federation as `make run` starts it (embedded broker, SQLite, no setting given), for the newcomer's tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

COUNTIES = ("621227", "542526", "330203")


@dataclass
class LocalFederation:
    """The running `mpx run`: its nodes' and monitor's URLs and API keys, its folder, and what it printed."""

    base_port: int
    var: Path
    output: list[str] = field(default_factory=list)

    def url(self, county: str) -> str:
        return f"http://127.0.0.1:{self.base_port + COUNTIES.index(county)}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port - 1}"

    def key(self, name: str) -> str:
        return (self.var / f"api-key-{name}").read_text().strip()

    @property
    def banner(self) -> list[str]:
        """The lines printed once everything is up, up to the one that says how to stop it."""
        end = next(i for i, line in enumerate(self.output) if "Ctrl-C" in line)
        return self.output[: end + 1]


def free_block(size: int = 4) -> int:
    """The first port of `size` consecutive free ones (the monitor takes the first, the nodes the rest)."""
    for start in range(18300, 19000, size):
        try:
            for port in range(start, start + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    raise RuntimeError("no free block of ports")


@pytest.fixture(scope="package")  # stopped once this folder's tests are done
def local_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """`make run` with no setting: every MPX_*, KAFKA_* and DATABASE_URL variable of the test run is left out."""
    var = tmp_path_factory.mktemp("make-run")
    fed = LocalFederation(base_port=free_block() + 1, var=var)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MPX_", "KAFKA_")) and k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.entrypoints.cli", "run", "--base-port", str(fed.base_port), "--var", str(var)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            fed.output.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any("Ctrl-C" in line for line in fed.output):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            reader.join(5)
            pytest.fail("make run's federation did not come up:\n" + "\n".join(fed.output[-40:]), pytrace=False)
        time.sleep(0.2)
    try:
        yield fed
    finally:
        process.terminate()  # SIGTERM: what Ctrl-C does, every node stopped
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        reader.join(5)


def has_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def sign_in_over_http(url: str, account: str, password: str) -> httpx.Response:
    """Sign in to a node's pages as a browser would (the sign-in form's CSRF token, then the form): the page it
    leads to, which names the account when it worked."""
    with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as browser:
        form = browser.get("/ui/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        signed_in = browser.post("/ui/sign-in", data={"account": account, "password": password, "csrf_token": token})
        assert signed_in.status_code == 200 and f'data-account="{account}"' in signed_in.text, signed_in.text
        return signed_in
