"""One clock: set_clock moves "now" for the node and "today in China" for the contracts together."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

import contracts
import contracts.clock
import contracts.dates
from contracts import DeliveryReceipt, Envelope, Feedback, MessageType
from exchange.domain import clock
from exchange.domain.obligation import local_day


@pytest.fixture
def moved() -> Iterator[list[datetime]]:
    """The clock, set to what the test puts in moved[0]; the wall clock again afterwards."""
    at = [datetime(2030, 1, 1, tzinfo=UTC)]
    clock.set_clock(lambda: at[0])
    yield at
    clock.set_clock(None)


def test_there_is_one_clock_and_one_zone() -> None:
    assert clock.set_clock is contracts.clock.set_clock
    assert clock.utcnow is contracts.clock.utcnow
    assert clock.today_in_china is contracts.today_in_china is contracts.dates.today_in_china
    assert clock.SHANGHAI is contracts.CHINA_TZ is contracts.dates.CHINA_TZ


def test_set_clock_moves_now_and_today_in_china(moved: list[datetime]) -> None:
    moved[0] = datetime(2031, 5, 6, 3, 4, 5, tzinfo=UTC)
    assert clock.utcnow() == datetime(2031, 5, 6, 3, 4, 5, tzinfo=UTC)
    assert clock.utcnow().tzinfo is UTC
    assert clock.now_in_china() == moved[0] and clock.now_in_china().utcoffset() == timedelta(hours=8)
    assert clock.today_in_china() == contracts.today_in_china() == date(2031, 5, 6)
    moved[0] = datetime(2031, 5, 9, 12, 0, tzinfo=clock.SHANGHAI)  # any zone in, UTC out
    assert clock.utcnow() == datetime(2031, 5, 9, 4, 0, tzinfo=UTC)
    assert contracts.today_in_china() == date(2031, 5, 9)


def test_restoring_the_wall_clock() -> None:
    clock.set_clock(lambda: datetime(2001, 1, 1, tzinfo=UTC))
    clock.set_clock(None)
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock.on_node_clock(datetime(2020, 1, 1, tzinfo=UTC)) - datetime(2020, 1, 1, tzinfo=UTC) < timedelta(
        seconds=1)


def test_the_china_day_turns_at_16_utc(moved: list[datetime]) -> None:
    moved[0] = datetime(2030, 3, 9, 15, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999 in Beijing
    assert clock.today_in_china() == date(2030, 3, 9)
    assert clock.utcnow().date() == date(2030, 3, 9)
    moved[0] = datetime(2030, 3, 9, 16, 0, tzinfo=UTC)  # midnight in Beijing, still the 9th in UTC
    assert clock.today_in_china() == date(2030, 3, 10)
    assert clock.utcnow().date() == date(2030, 3, 9)
    assert clock.china_date(moved[0]) == local_day(moved[0]) == date(2030, 3, 10)
    assert clock.china_date(moved[0] - timedelta(microseconds=1)) == date(2030, 3, 9)


def test_contract_dates_are_judged_on_the_moved_clock(moved: list[datetime]) -> None:
    moved[0] = datetime(2030, 3, 9, 16, 0, tzinfo=UTC)  # 10 March has begun in China, not yet in UTC
    Feedback.model_validate({"status": "confirmed", "handled_on": "2030-03-10"})
    with pytest.raises(ValidationError, match="date_in_future|future"):
        Feedback.model_validate({"status": "confirmed", "handled_on": "2030-03-11"})
    moved[0] = datetime(2030, 3, 9, 15, 59, tzinfo=UTC)  # back before midnight in China: the 10th is tomorrow
    with pytest.raises(ValidationError, match="date_in_future|future"):
        Feedback.model_validate({"status": "confirmed", "handled_on": "2030-03-10"})


def test_event_times_and_envelopes_follow_the_moved_clock(moved: list[datetime]) -> None:
    moved[0] = datetime(2040, 7, 1, 1, 2, 3, tzinfo=UTC)  # years ahead of the wall clock: a drill
    envelope = Envelope.for_message(MessageType.OUTFLOW_REGISTRATION, sender="621227", receiver="330203")
    assert envelope.time == moved[0] and envelope.time.utcoffset() == timedelta(hours=8)
    receipt = {"received_at": clock.utcnow().isoformat(), "receiver_node_id": "node-330203"}
    DeliveryReceipt.model_validate(receipt)  # not "in the future" on the clock it was stamped by
    moved[0] = datetime(2040, 7, 1, 0, 57, tzinfo=UTC)  # 5 minutes of skew are allowed, 5 min 3 s are not
    with pytest.raises(ValidationError, match="date_in_future|future"):
        DeliveryReceipt.model_validate(receipt)
