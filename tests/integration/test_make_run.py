"""`make run`'s job: three county nodes on a broker of their own, traffic simulated, everything stopped at the end;
on a machine without Java the embedded broker, where Java is Apache Kafka, which kcat reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_the_local_federation_exchanges_and_answers_simulated_traffic_on_the_embedded_broker(tmp_path: Path):
    """The fallback where Java is missing (`--broker embedded`), with every part of an office's work."""
    result = subprocess.run(
        [sys.executable, "-m", "exchange.entrypoints.cli", "run", "--simulate", "--rate", "10", "--duration", "12",
         "--base-port", "18101", "--var", str(tmp_path), "--broker", "embedded"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MPX_ROSTER_INTERVAL_SECONDS": "6"},  # the roster check within the run
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded Kafka-compatible broker (Tansu) at 127.0.0.1:" in result.stdout
    for county in ("621227", "542526", "330203"):
        assert f"{county} " in result.stdout
    stats = re.search(r"simulator: sent (\d+), answered (\d+), refused (\d+)", result.stdout)
    assert stats, result.stdout
    sent, answered, refused = map(int, stats.groups())
    print(f"simulated: sent {sent}, answered {answered}, refused {refused}")
    assert sent > 20 and answered > 0 and refused == 0

    records = ("outflow_registration", "pregnancy_check", "birth", "return_cancellation", "verification_request")
    stored: dict[tuple[str, str], int] = {}
    for county in ("621227", "542526", "330203"):
        with sqlite3.connect(tmp_path / f"node-{county}.db") as db:
            for direction, type_, n in db.execute("SELECT direction, type, count(*) FROM messages GROUP BY 1, 2"):
                stored[direction, type_] = stored.get((direction, type_), 0) + n
    records_sent, records_received = (sum(stored.get((d, t), 0) for t in records) for d in ("out", "in"))
    print(f"stored: {sorted(stored.items())}")
    # Records really crossed the broker and none arrived twice (the run stops with some still in flight).
    assert 0 < records_received <= records_sent and stored.get(("out", "feedback"), 0) > 0
    # The offices' other work went along: records withdrawn in error, or asked to be clarified first, verification
    # requests, and the monthly roster check of the last closed month (sent by the registration counties' nodes).
    assert stored.get(("out", "withdrawal"), 0) + stored.get(("out", "clarification_request"), 0) > 0
    assert stored.get(("out", "verification_request"), 0) > 0 and stored.get(("out", "roster"), 0) > 0
    assert "stopped" in result.stdout


def test_kcat_reads_the_records_of_make_run_as_the_readme_says(tmp_path: Path):
    """`make run` with no setting, where Java is installed (`make infra`): Apache Kafka, which librdkafka's kcat reads
    (the embedded broker answers its ApiVersionRequest with a "Read underflow"). The README's kcat lines, as written."""
    assert shutil.which("kcat"), "kcat is not installed: run `make infra` (it installs it)"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MPX_", "KAFKA_")) and k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    run = subprocess.Popen(
        [sys.executable, "-m", "exchange.entrypoints.cli", "run", "--simulate", "--rate", "10", "--duration", "90",
         "--base-port", "18201", "--var", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        assert run.stdout is not None
        for line in run.stdout:
            output.append(line)
            if "Ctrl-C" in line:
                break
        assert any("Apache Kafka at 127.0.0.1:" in line for line in output), "".join(output)
        topics, record = (_bash(line.replace("var/run/", f"{tmp_path}/")) for line in _readme_block("sh kcat"))
    finally:
        run.terminate()  # what Ctrl-C does
        rest, _ = run.communicate(timeout=60)
    assert "已停止 stopped" in rest, "".join(output) + rest
    assert "topic \"mpx.v1.records.33\" with 8 partitions" in topics, topics
    seen = json.loads(record)
    headers = dict(zip(seen["headers"][::2], seen["headers"][1::2]))
    assert seen["topic"] == "mpx.v1.records.33" and seen["key"] == "330203", seen
    assert headers["ce_type"].startswith("cn.mpx.") and headers["ce_receiverregion"] == "330203", headers
    assert json.loads(seen["payload"])["mpx_sealed"] == 1  # only 330203 opens it
    assert not _kafka_alive(tmp_path / "kafka" / "kafka.pid"), "make run left its Kafka broker running"


def _readme_block(tag: str) -> list[str]:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(rf"^```{tag}\n(.*?)^```", text, re.M | re.S)
    assert block, f"no ```{tag} block in the README"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def _bash(line: str) -> str:
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (line, done.stdout, done.stderr)
    return done.stdout


def _kafka_alive(pidfile: Path) -> bool:
    try:
        return b"kafka.Kafka" in Path(f"/proc/{pidfile.read_text().strip()}/cmdline").read_bytes()
    except OSError:
        return False
