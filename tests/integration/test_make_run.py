"""`make run`'s job: three county nodes on the embedded broker, traffic simulated, everything stopped at the end."""

from __future__ import annotations

import os
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
        env={**os.environ, "MPX_ROSTER_INTERVAL_SECONDS": "6"},  # the roster check within the run
    )
    assert result.returncode == 0, result.stdout + result.stderr
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
