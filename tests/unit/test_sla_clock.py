"""The feedback clock: when a record is due, when it is on time, late, overdue, paused or cancelled."""

from datetime import date, datetime, timezone

import pytest

from exchange.domain.agreements import DEFAULT_RESOLUTION, Deadline, DeadlineUnit, Resolution
from exchange.domain.calendar import CalendarBook, DayKind, national_published_years
from exchange.domain.clock import SHANGHAI as SH
from exchange.domain.obligation import (
    CancelReason,
    Obligation,
    Reminder,
    ReminderKind,
    Status,
    answer,
    cancel,
    open_obligation,
    pause,
    recompute,
    reminder_schedule,
    response_working_days,
    resume,
    sender_timeliness,
    status,
    supersede_by_return,
    working_days_overdue,
)

HUI_XIAN = "621227"  # 徽县, Gansu: registration county
HAISHU = "330203"  # 海曙区, Ningbo: residence county
GERZE = "542526"  # 改则县, Ngari, Tibet

BOOK = CalendarBook.default()
CAL = BOOK.calendar_for(HAISHU)


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def received(at: datetime, *, resolution: Resolution = DEFAULT_RESOLUTION, receiver: str = HAISHU,
             message_type: str = "outflow_registration", calendars: CalendarBook = BOOK) -> Obligation:
    return open_obligation(message_id="msg-1", message_type=message_type, sender=HUI_XIAN, receiver=receiver,
                           received_at=at, resolution=resolution, calendar=calendars.calendar_for(receiver))


def test_a_record_received_on_the_eve_of_national_day_2025_is_due_at_24_00_on_14_october():
    ob = received(cst(2025, 9, 30, 16, 20))
    # 1-8 Oct off; working days: Oct 9, 10, Sat 11 (make-up), 13, 14
    assert ob.due_at == cst(2025, 10, 15, 0, 0)
    assert ob.due_day == date(2025, 10, 14)
    assert not ob.provisional
    assert (ob.agreement_id, ob.agreement_version, ob.deadline) == ("default", 1, Deadline(5))
    assert ob.calendar_id == "CN@0"


def test_a_record_received_in_the_spring_festival_week_of_2026():
    # Received Fri 13 Feb 2026 evening: Sat 14 (make-up), 24, 25, 26, Fri 27 Feb
    assert received(cst(2026, 2, 13, 19, 0)).due_at == cst(2026, 2, 28)
    # Received on the make-up Saturday itself: that day doesn't count: 24, 25, 26, 27, Sat 28 (make-up)
    assert received(cst(2026, 2, 14, 11, 0)).due_at == cst(2026, 3, 1)


def test_a_record_received_on_friday_evening_is_due_the_next_friday():
    assert received(cst(2025, 11, 14, 19, 45)).due_at == cst(2025, 11, 22)


def test_the_receipt_day_is_the_day_in_china_not_in_utc():
    # 16:30 UTC Thursday is 00:30 Friday in Ningbo: the receipt day is Friday
    assert received(datetime(2025, 11, 13, 16, 30, tzinfo=timezone.utc)).due_at == cst(2025, 11, 22)
    assert received(datetime(2025, 11, 13, 15, 30, tzinfo=timezone.utc)).due_at == cst(2025, 11, 21)


def test_a_record_received_on_a_holiday_counts_from_the_next_working_day():
    assert received(cst(2025, 10, 3, 10, 0)).due_at == cst(2025, 10, 15)


def test_a_tibet_county_owes_its_feedback_later_over_tibetan_new_year_than_a_zhejiang_county():
    at = cst(2025, 2, 26, 10, 0)
    haishu, gerze = received(at), received(at, receiver=GERZE)
    assert haishu.due_at == cst(2025, 3, 6) and haishu.calendar_id == "CN@0"
    assert gerze.due_at == cst(2025, 3, 12) and gerze.calendar_id == "CN+54@1"


def test_a_calendar_day_deadline_ignores_holidays():
    ob = received(cst(2025, 9, 30, 9), resolution=Resolution("x", 1, Deadline(7, DeadlineUnit.CALENDAR)))
    assert ob.due_at == cst(2025, 10, 8)


def test_answered_at_23_59_of_the_due_day_is_on_time_and_one_second_after_midnight_is_late():
    ob = received(cst(2025, 9, 30, 16, 20))
    assert status(answer(ob, cst(2025, 10, 14, 23, 59), "fb-1", CAL), cst(2025, 12, 1)) is Status.ANSWERED_ON_TIME
    assert status(answer(ob, cst(2025, 10, 15, 0, 0, 0), "fb-1", CAL), cst(2025, 12, 1)) is Status.ANSWERED_ON_TIME
    late = answer(ob, cst(2025, 10, 15, 0, 0, 1), "fb-1", CAL)
    assert status(late, cst(2025, 12, 1)) is Status.ANSWERED_LATE


def test_a_second_feedback_is_an_amendment_and_changes_nothing():
    ob = answer(received(cst(2025, 9, 30, 16, 20)), cst(2025, 10, 16, 9), "fb-1", CAL)
    again = answer(ob, cst(2025, 10, 17, 9), "fb-2", CAL)
    assert again.answered_at == ob.answered_at and again.feedback_id == "fb-1"
    assert again.amendments == ("fb-2",)
    assert status(again, cst(2025, 12, 1)) is Status.ANSWERED_LATE  # a late answer stays late
    assert answer(again, cst(2025, 10, 17, 9), "fb-2", CAL) is again  # redelivered: no change
    assert answer(again, cst(2025, 10, 16, 9), "fb-1", CAL) is again


def test_an_earlier_feedback_delivered_after_a_later_one_is_the_first():
    ob = received(cst(2025, 9, 30, 16, 20))
    out_of_order = answer(answer(ob, cst(2025, 10, 16, 9), "fb-2", CAL), cst(2025, 10, 14, 17), "fb-1", CAL)
    assert out_of_order.feedback_id == "fb-1" and out_of_order.amendments == ("fb-2",)
    assert status(out_of_order, cst(2025, 12, 1)) is Status.ANSWERED_ON_TIME


def test_overdue_is_computed_from_now_and_never_stored():
    ob = received(cst(2025, 9, 30, 16, 20))
    assert status(ob, cst(2025, 10, 14, 23, 59, 59)) is Status.OPEN
    assert status(ob, cst(2025, 10, 15, 0, 0)) is Status.OPEN  # at the deadline: still on time
    assert status(ob, cst(2025, 10, 15, 0, 0, 1)) is Status.OVERDUE
    assert status(ob, cst(2025, 10, 14, 12)) is Status.OPEN  # the same object, asked earlier


def test_working_days_overdue_count_working_days_after_the_due_day():
    ob = received(cst(2025, 11, 10, 10))  # due 24:00 Mon 17 Nov
    assert working_days_overdue(ob, cst(2025, 11, 17, 12), CAL) == 0
    assert working_days_overdue(ob, cst(2025, 11, 18, 10), CAL) == 1
    assert working_days_overdue(ob, cst(2025, 11, 22, 10), CAL) == 4  # Sat: 18, 19, 20, 21
    assert working_days_overdue(answer(ob, cst(2025, 11, 19, 9), "fb", CAL), cst(2025, 12, 1), CAL) == 2
    friday = received(cst(2025, 11, 7, 10))  # due 24:00 Fri 14 Nov
    assert status(friday, cst(2025, 11, 15, 10)) is Status.OVERDUE
    assert working_days_overdue(friday, cst(2025, 11, 15, 10), CAL) == 0


def test_response_time_counts_working_days_after_the_receipt_day():
    ob = received(cst(2025, 11, 14, 10))  # a Friday
    assert response_working_days(ob) is None
    assert response_working_days(answer(ob, cst(2025, 11, 14, 16), "fb", CAL)) == 0
    assert response_working_days(answer(ob, cst(2025, 11, 15, 10), "fb", CAL)) == 0  # Saturday
    assert response_working_days(answer(ob, cst(2025, 11, 17, 9), "fb", CAL)) == 1


def test_a_withdrawn_record_is_cancelled_and_stays_so():
    ob = cancel(received(cst(2025, 11, 10, 10)), cst(2025, 11, 11, 9), CancelReason.WITHDRAWN, "msg-withdraw")
    assert status(ob, cst(2025, 12, 1)) is Status.CANCELLED
    assert (ob.cancel_reason, ob.cancelled_by) == (CancelReason.WITHDRAWN, "msg-withdraw")
    assert answer(ob, cst(2025, 11, 12, 9), "fb", CAL) is ob


def test_a_return_cancellation_supersedes_an_open_outflow_registration_only():
    outflow = received(cst(2025, 11, 10, 10))
    closed = supersede_by_return(outflow, "msg-return", cst(2025, 11, 12, 9))
    assert status(closed, cst(2025, 12, 1)) is Status.CANCELLED
    assert closed.cancel_reason is CancelReason.SUPERSEDED_BY_RETURN and closed.cancelled_by == "msg-return"
    birth = received(cst(2025, 11, 10, 10), message_type="birth")
    assert supersede_by_return(birth, "msg-return", cst(2025, 11, 12, 9)) is birth
    answered = answer(outflow, cst(2025, 11, 11, 9), "fb", CAL)
    assert supersede_by_return(answered, "msg-return", cst(2025, 11, 12, 9)) is answered


def test_a_clarification_pauses_the_clock_and_moves_the_deadline_by_the_paused_working_days():
    ob = received(cst(2025, 11, 10, 10))  # Mon; due 24:00 Mon 17 Nov
    assert ob.due_at == cst(2025, 11, 18)
    paused = pause(ob, cst(2025, 11, 12, 15), "clarify-1")  # asked on Wednesday
    assert paused.paused
    assert status(paused, cst(2025, 12, 31)) is Status.OPEN  # a paused clock is never overdue
    assert reminder_schedule(paused, CAL) == []
    resumed = resume(paused, cst(2025, 11, 14, 9), CAL)  # the sender answered on Friday
    assert not resumed.paused
    assert resumed.paused_working_days == 2  # Wednesday and Thursday
    assert resumed.due_at == cst(2025, 11, 20)  # 24:00 Wed 19 Nov
    assert status(answer(resumed, cst(2025, 11, 19, 17), "fb", CAL), cst(2025, 12, 1)) is Status.ANSWERED_ON_TIME


def test_a_pause_across_national_day_costs_only_the_working_days_in_it():
    ob = received(cst(2025, 9, 26, 10))  # Fri; Sun 28 (make-up), 29, 30, Oct 9, 10
    assert ob.due_at == cst(2025, 10, 11)
    resumed = resume(pause(ob, cst(2025, 9, 30, 11)), cst(2025, 10, 9, 9), CAL)
    assert resumed.paused_working_days == 1  # only 30 Sep; 1-8 Oct are off anyway
    assert resumed.due_at == cst(2025, 10, 12)  # 24:00 on the make-up Saturday 11 Oct


def test_a_pause_asked_on_a_weekend_and_answered_on_monday_costs_nothing():
    ob = received(cst(2025, 11, 12, 10))
    resumed = resume(pause(ob, cst(2025, 11, 15, 10)), cst(2025, 11, 17, 9), CAL)
    assert resumed.paused_working_days == 0 and resumed.due_at == ob.due_at
    same_day = resume(pause(ob, cst(2025, 11, 13, 9)), cst(2025, 11, 13, 16), CAL)
    assert same_day.paused_working_days == 0 and same_day.due_at == ob.due_at


def test_a_clarification_after_the_deadline_does_not_pause_and_resume_without_pause_is_ignored():
    ob = received(cst(2025, 11, 10, 10))
    assert pause(ob, cst(2025, 11, 18, 0, 0, 1)) is ob
    assert pause(ob, cst(2025, 11, 18, 0, 0)).paused  # at the deadline itself: still allowed
    assert resume(ob, cst(2025, 11, 14, 9), CAL) is ob
    twice = pause(ob, cst(2025, 11, 12, 9))
    assert pause(twice, cst(2025, 11, 13, 9)) is twice


def test_feedback_sent_while_paused_ends_the_pause_first():
    ob = pause(received(cst(2025, 11, 10, 10)), cst(2025, 11, 12, 15))
    answered = answer(ob, cst(2025, 11, 13, 10), "fb", CAL)
    assert not answered.paused and answered.paused_working_days == 1  # Wednesday
    assert answered.due_at == cst(2025, 11, 19)
    assert answered.response_working_days == 3  # paused days are reported apart, not subtracted
    assert status(answered, cst(2025, 12, 1)) is Status.ANSWERED_ON_TIME


def test_a_deadline_in_an_unpublished_year_is_provisional_and_recomputed_when_the_year_is_loaded():
    assert 2031 not in national_published_years()
    calendars = CalendarBook()
    ob = received(cst(2031, 3, 3, 10), calendars=calendars)  # Monday: 4, 5, 6, 7, 10 Mar
    assert ob.provisional and ob.due_at == cst(2031, 3, 11) and ob.calendar_id == "CN@0"

    # The 2031 schedule is loaded (a made-up day off for the test, not a real notice).
    calendars.add_override("CN", date(2031, 3, 5), DayKind.HOLIDAY, "test")
    calendars.publish_year(2031)
    again = recompute(ob, calendars.calendar_for(HAISHU))
    assert not again.provisional and again.calendar_id == "CN@2"
    assert again.due_at == cst(2031, 3, 12)


def test_a_recomputed_deadline_never_moves_earlier_than_the_one_shown():
    calendars = CalendarBook()
    ob = received(cst(2031, 3, 3, 10), calendars=calendars)
    calendars.add_override("CN", date(2031, 3, 8), DayKind.WORKING, "test make-up Saturday")
    calendars.publish_year(2031)
    again = recompute(ob, calendars.calendar_for(HAISHU))
    assert again.due_at == ob.due_at == cst(2031, 3, 11) and not again.provisional


def test_a_birth_notified_too_late_makes_the_sender_late():
    # Border-area agreement: births notified within 3 working days of the birth date.
    three = Deadline(3)
    born = date(2025, 9, 29)  # Monday: 30 Sep, 9 Oct, 10 Oct
    on_time = sender_timeliness(born, cst(2025, 10, 10, 17), three, CAL)
    assert on_time == (cst(2025, 10, 11), False, False)
    assert sender_timeliness(born, cst(2025, 10, 11, 9), three, CAL).late  # sent on the make-up Saturday


def test_reminders_at_half_three_quarters_last_day_and_breach():
    ob = received(cst(2025, 11, 10, 10))  # allowed working days: 11, 12, 13, 14, 17 Nov
    assert reminder_schedule(ob, CAL) == [
        Reminder(ReminderKind.HALF, cst(2025, 11, 13)),  # 2 of 5 days passed
        Reminder(ReminderKind.THREE_QUARTERS, cst(2025, 11, 14)),  # 3 of 5
        Reminder(ReminderKind.LAST_DAY, cst(2025, 11, 17)),
        Reminder(ReminderKind.BREACH, cst(2025, 11, 18)),
    ]
    three_days = received(cst(2025, 11, 10, 10), resolution=Resolution("x", 1, Deadline(3)))
    assert [r.kind for r in reminder_schedule(three_days, CAL)] == ["half", "last_day", "breach"]
    one_day = received(cst(2025, 11, 10, 10), resolution=Resolution("x", 1, Deadline(1)))
    assert reminder_schedule(one_day, CAL) == [Reminder(ReminderKind.LAST_DAY, cst(2025, 11, 11)),
                                               Reminder(ReminderKind.BREACH, cst(2025, 11, 12))]
    assert reminder_schedule(answer(ob, cst(2025, 11, 11, 9), "fb", CAL), CAL) == []


def test_reminders_skip_the_national_day_holidays():
    ob = received(cst(2025, 9, 30, 16, 20))
    assert [r.at for r in reminder_schedule(ob, CAL)] == [
        cst(2025, 10, 11), cst(2025, 10, 13), cst(2025, 10, 14), cst(2025, 10, 15)]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="aware"):
        received(datetime(2025, 11, 10, 10))
    with pytest.raises(ValueError, match="obligation"):
        received(cst(2025, 11, 10, 10), message_type="feedback")
    ob = received(cst(2025, 11, 10, 10))
    with pytest.raises(ValueError):
        status(ob, datetime(2025, 11, 20))
