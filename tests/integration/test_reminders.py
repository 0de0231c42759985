"""Reminders at scale: a reminder round reads only the obligations whose next reminder is due, and still emits every
reminder of the schedule once (the round used to read and parse every open obligation, every minute)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from contracts import MessageType
from exchange.adapters.sql.obligation_repository import from_state
from exchange.adapters.sql.tables import obligations
from exchange.domain.clock import utcnow
from exchange.domain.obligation import end_of_day, reminder_schedule
from exchange.service.reminders import NONE_LEFT
from tests.integration.conftest import Federation, eventually, in_inbox
from tests.integration.test_round_trip import HAISHU, HUI, message

pytestmark = pytest.mark.integration


async def test_a_reminder_round_reads_only_obligations_whose_reminder_is_due(federation: Federation):
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU, reminder_interval_seconds=3600)  # rounds run by hand below
    sent = await hui.client.send(message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, 3))
    await eventually(lambda: in_inbox(haishu, sent), what="the record at 330203")

    async def row():
        async with haishu.node.engine.connect() as conn:
            return (await conn.execute(select(obligations.c.next_reminder_at, obligations.c.state)
                                       .where(obligations.c.message_id == sent))).one()

    opened = await row()
    ob, _ = from_state(opened.state)
    schedule = reminder_schedule(ob, haishu.node.calendars.calendar_for(HAISHU))
    # Fresh: nothing can fire before the end of the receipt day, so a round now does not read it.
    assert opened.next_reminder_at == end_of_day(ob.receipt_day) <= schedule[0].at
    reminders = haishu.node.reminders
    assert await reminders.emit_due(utcnow()) == 0
    assert (await row()).next_reminder_at == opened.next_reminder_at

    # At the end of the receipt day it is read once, and waits for its first reminder from then on.
    assert await reminders.emit_due(opened.next_reminder_at) == sum(r.at <= opened.next_reminder_at for r in schedule)
    assert (await row()).next_reminder_at == next(r.at for r in schedule if r.at > opened.next_reminder_at)
    # Each reminder at its time, once; after the breach nothing is left to read.
    emitted = [await reminders.emit_due(r.at) for r in schedule if r.at > opened.next_reminder_at]
    assert sum(emitted) + sum(r.at <= opened.next_reminder_at for r in schedule) == len(schedule)
    assert (await row()).next_reminder_at == NONE_LEFT
    assert await reminders.emit_due(schedule[-1].at + timedelta(days=30)) == 0
    listed = [r["kind"] for r in (await haishu.http.get("/v1/reminders")).json() if r["message_id"] == sent]
    assert sorted(listed) == sorted(r.kind.value for r in schedule)
