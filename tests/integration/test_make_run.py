"""`make run`'s job: three county nodes on the embedded broker, traffic simulated, everything stopped at the end."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_the_local_federation_exchanges_and_answers_simulated_traffic(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "exchange.entrypoints.cli", "run", "--simulate", "--rate", "10", "--duration", "12",
         "--base-port", "18101", "--var", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for county in ("621227", "542526", "330203"):
        assert f"{county} " in result.stdout
    stats = re.search(r"simulator: sent (\d+), answered (\d+), refused (\d+)", result.stdout)
    assert stats, result.stdout
    sent, answered, refused = map(int, stats.groups())
    print(f"simulated: sent {sent}, answered {answered}, refused {refused}")
    assert sent > 20 and answered > 0 and refused == 0

    records_sent = records_received = answers_sent = 0
    for county in ("621227", "542526", "330203"):
        with sqlite3.connect(tmp_path / f"node-{county}.db") as db:
            rows = {(d, f): n for d, f, n in db.execute(
                "SELECT direction, type = 'feedback', count(*) FROM messages GROUP BY 1, 2")}
        records_sent += rows.get(("out", 0), 0)
        records_received += rows.get(("in", 0), 0)
        answers_sent += rows.get(("out", 1), 0)
    print(f"stored: records sent {records_sent}, received {records_received}, answers {answers_sent}")
    # Records really crossed the broker and none arrived twice (the run stops with some still in flight).
    assert 0 < records_received <= records_sent and answers_sent > 0
    assert "stopped" in result.stdout
