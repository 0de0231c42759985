"""Synthetic monitor obligations (no personal field exists in that table), for the monitor benchmark and
the equivalence check of the SQL monitor queries.

Rows look like a national monitor's copy after a year of traffic: receivers and senders spread over all
current county-level codes, deadlines 24:00 of a due day about a week after receipt, most answered (some
late, some exactly at the deadline), a few still open or overdue, a few paused or cancelled, a third with
a sender-side deadline. ``rows(n, now=..., seed=...)`` is deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from exchange.adapters.sql.tables import monitor_obligations
from exchange.domain.obligation import end_of_day, local_day

COLUMNS = [c.name for c in monitor_obligations.columns]
TYPES = ("outflow_registration", "pregnancy_check", "birth", "return_cancellation")
AGREEMENTS = (("default", 1), ("default", 1), ("default", 1), ("zj-gs-2026", 1), ("zj-gs-2026", 2),
              ("yrd-2025", 3), ("cy-2026", 1))


@lru_cache(maxsize=1)
def all_counties() -> tuple[str, ...]:
    """Every current county-level GB/T 2260 code in python-stdnum's table (placeholders left out)."""
    from stdnum import numdb

    from contracts.regions import is_county, region_periods

    codes = []
    for _, province, _, _, children in numdb.get("cn/loc").prefixes:
        for _, rest, _, _, _ in children:
            code = province + rest
            if is_county(code):
                last = region_periods(code)[-1]
                if last.end is None and last.name not in ("市辖区", "市区"):
                    codes.append(code)
    return tuple(codes)


def rows(n: int, *, now: datetime, seed: int = 1, counties: tuple[str, ...] | None = None,
         days: int = 365, edge_cases: bool = False) -> Iterator[tuple]:
    """``n`` rows as tuples in ``COLUMNS`` order, received over the ``days`` before ``now``.

    ``edge_cases`` adds the boundaries the figures turn on: answers exactly at the deadline, deadlines
    exactly at ``now``, answered without response days, paused rows past their deadline.
    """
    rnd = random.Random(seed)
    counties = counties or all_counties()
    today = local_day(now)
    first = today - timedelta(days=days)
    ends = {}
    for i in range(n):
        receiver = counties[rnd.randrange(len(counties))]
        sender = counties[rnd.randrange(len(counties))]
        # in arrival order, as a monitor stores them (a month's cohort sits together on disk)
        received_day = first + timedelta(days=min(days + 7, (i * (days + 8)) // n + rnd.randrange(2)))
        received_at = end_of_day(received_day) - timedelta(seconds=rnd.randrange(1, 86400))
        due_day = received_day + timedelta(days=rnd.choice((7, 7, 7, 8, 9, 14)))
        due_at = ends.get(due_day) or ends.setdefault(due_day, end_of_day(due_day).astimezone(UTC))
        agreement_id, agreement_version = AGREEMENTS[rnd.randrange(len(AGREEMENTS))]
        message_type = TYPES[rnd.randrange(4)]
        answered_at = cancelled_at = None
        response_days = None
        paused = False
        roll = rnd.random()
        if roll < 0.03:
            cancelled_at = received_at + timedelta(hours=rnd.randrange(1, 200))
        elif due_at < now:
            if roll < 0.85:
                answered_at = min(due_at, received_at + timedelta(hours=rnd.randrange(1, 160)))
                response_days = rnd.randrange(0, 6)
            elif roll < 0.93:
                answered_at = due_at + timedelta(hours=rnd.randrange(1, 300))
                response_days = rnd.randrange(6, 16)
            elif roll < 0.935:
                paused = True
        else:
            if roll < 0.5:
                answered_at = received_at + timedelta(hours=rnd.randrange(1, 100))
                response_days = rnd.randrange(0, 5)
        if answered_at is not None and answered_at > now:
            answered_at, response_days = None, None
        if edge_cases:
            pick = rnd.random()
            if pick < 0.02 and cancelled_at is None:
                answered_at, response_days = due_at, 5  # exactly at 24:00: still on time
            elif pick < 0.04 and cancelled_at is None and answered_at is not None:
                response_days = None
            elif pick < 0.05:
                due_at = now.astimezone(UTC)  # due exactly now: not overdue yet
                due_day = local_day(due_at - timedelta(microseconds=1))
                answered_at = cancelled_at = response_days = None
            elif pick < 0.06 and cancelled_at is None and answered_at is None:
                paused = True
        sender_due_day = sender_due_at = sent_at = sender_late = None
        if message_type in ("birth", "pregnancy_check") and rnd.random() < 0.7:
            sender_due_day = received_day - timedelta(days=rnd.randrange(0, 6))
            sender_due_at = end_of_day(sender_due_day).astimezone(UTC)
            sent_at = received_at
            sender_late = sent_at > sender_due_at if rnd.random() < 0.9 else None
        # clarified, also twice or for no working day; the paused ones told by a node that did not count pauses
        # (no draw from rnd either)
        pause_count = (i % 7 == 0) + (i % 21 == 0)
        paused_days = i % 4 if pause_count else 0
        yield (
            f"{rnd.getrandbits(128):032x}", message_type, sender, receiver, agreement_id, agreement_version,
            "CN@1", received_at.astimezone(UTC), due_at, due_day, False, answered_at, response_days,
            cancelled_at, paused, paused_days, sender_due_at, sender_due_day, sent_at, sender_late,
            1 + (answered_at is not None),
            # why it was cancelled: half withdrawn by their sender (no draw from rnd: the rows stay as they were)
            None if cancelled_at is None else ("withdrawn" if i % 2 else "superseded_by_return"),
            None,  # urgency: records have none
            pause_count,
        )


def as_dicts(tuples) -> list[dict]:  # noqa: ANN001
    return [dict(zip(COLUMNS, t)) for t in tuples]


def reference_now() -> datetime:
    """A fixed 'now' (Tuesday 10 November 2026, 09:00 Asia/Shanghai) so runs are comparable."""
    return datetime(2026, 11, 10, 1, 0, tzinfo=UTC)


_ = date
