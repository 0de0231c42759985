"""`make run`'s job: three county nodes on the embedded broker, traffic simulated, everything stopped at the end."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_the_local_federation_exchanges_and_answers_simulated_traffic(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "run", "--simulate", "--rate", "10", "--duration", "12",
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

    received = 0
    for county in ("621227", "542526", "330203"):
        with sqlite3.connect(tmp_path / f"node-{county}.db") as db:
            received += db.execute("SELECT count(*) FROM messages WHERE direction = 'in' AND type != 'feedback'").fetchone()[0]
    assert 0 < received <= sent  # records really crossed the broker, none twice
    assert "stopped" in result.stdout
