"""A record's thread as one time-ordered list: sent, delivered, each clarification request and its answer, feedback and
amendments (or a verification request's steps: matched, verified, answered), the withdrawal; each step with the
county that acted and, for this node's own acts, the principal its evidence chain names (the `accepted`, `answered`
and `withdrawn` entries)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.adapters.sql.tables import audit_log
from exchange.domain.clock import as_utc
from exchange.domain.delivery import Direction
from exchange.domain.worklist import AnswerDeadline, live_status

LABELS = {"sent": "发出 sent", "delivered": "送达 delivered", "clarification_requested": "请求补充说明 clarification "
          "requested", "clarified": "补充说明 clarified", "feedback": "反馈 feedback", "amendment": "更正反馈 amendment",
          "withdrawn": "撤回 withdrawn", "matched": "配对 matched", "verified": "核实 verified",
          "answered": "协查反馈 answered"}
#: Evidence entries that name who made a message on this node.
_ACTS = ("accepted", "answered", "withdrawn")


def acted_at(row: Row) -> datetime:
    """When the acting county's node accepted the message (its envelope's time; the same on both sides)."""
    return as_utc(datetime.fromisoformat(orjson.loads(row.envelope)["time"].replace("Z", "+00:00")))


async def principals(conn: AsyncConnection, rows: Sequence[Row]) -> dict[tuple[str, str], str]:
    """Who made each of `rows` that this node sent, by (sending county, id), from the evidence chain."""
    own = {(r.sender, r.id) for r in rows if r.direction == Direction.OUT}
    if not own:
        return {}
    found = await conn.execute(select(audit_log.c.county, audit_log.c.message_id, audit_log.c.principal).where(
        audit_log.c.event.in_(_ACTS), audit_log.c.message_id.in_(sorted({i for _, i in own}))))
    return {(e.county, e.message_id): e.principal for e in found if (e.county, e.message_id) in own and e.principal}


def thread(record: Row, feedback: Sequence[Row], withdrawal: Row | None, requests: Sequence[Row],
           clarified: dict[str, Row], who: dict[tuple[str, str], str], deadline: AnswerDeadline,
           now: datetime, steps: Sequence[tuple[Row, str]] = ()) -> list[dict[str, Any]]:
    """The steps of `record`, in time order. A clarification request this node received (it sent the record) shows
    when its answer is due (`deadline`) and that answer's status (none once the record is answered or withdrawn
    without it: the answer is moot, as on the to-do list). `steps`: a verification request's steps, with their names."""
    done = [_step("sent", acted_at(record), record, who)]
    delivered = record.delivered_at if record.direction == Direction.OUT else record.created_at
    if delivered is not None:
        done.append({"at": as_utc(delivered), "kind": "delivered", "label": LABELS["delivered"],
                      "message_id": record.id, "county": record.receiver})
    for request in requests:
        step = _step("clarification_requested", acted_at(request), request, who)
        answer = clarified.get(request.id)
        if request.direction == Direction.IN:
            due = deadline.due(request.receiver, as_utc(request.created_at)).due_at
            step["due_at"] = due.isoformat()
            if answer is not None:
                step["status"] = "answered_on_time" if acted_at(answer) <= due else "answered_late"
            elif record.answered_at is None and record.withdrawn_at is None:  # else moot: nothing more to do
                step["status"] = live_status(due, now).value
        done.append(step)
        if answer is not None:
            done.append(_step("clarified", acted_at(answer), answer, who))
    done += [_step("feedback" if n == 0 else "amendment", acted_at(f), f, who) for n, f in enumerate(feedback)]
    done += [_step(name, acted_at(row), row, who) for row, name in steps]
    if withdrawal is not None:
        done.append(_step("withdrawn", acted_at(withdrawal), withdrawal, who))
    return [{**s, "at": s["at"].isoformat()} for s in sorted(done, key=lambda s: s["at"])]


def _step(kind: str, at: datetime, row: Row, who: dict[tuple[str, str], str]) -> dict[str, Any]:
    step = {"at": at, "kind": kind, "label": LABELS[kind], "message_id": row.id, "county": row.sender}
    if (row.sender, row.id) in who:
        step["principal"] = who[(row.sender, row.id)]
    return step

