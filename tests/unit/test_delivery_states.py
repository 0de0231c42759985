"""A message's delivery state only moves forward, whatever order the events arrive in."""

from exchange.domain.delivery import DeliveryState as S
from exchange.domain.delivery import advance, states_before


def test_a_sent_message_moves_through_its_states_in_order():
    state = S.ACCEPTED
    for event in (S.PUBLISHED, S.DELIVERED, S.ANSWERED):
        state = advance(state, event)
        assert state is event


def test_feedback_that_overtakes_the_delivery_receipt_is_not_undone_by_it():
    assert advance(advance(S.PUBLISHED, S.ANSWERED), S.DELIVERED) is S.ANSWERED


def test_the_relay_marking_published_late_does_not_hide_a_delivery():
    assert advance(S.DELIVERED, S.PUBLISHED) is S.DELIVERED


def test_only_earlier_states_may_be_overwritten():
    assert states_before(S.DELIVERED) == [S.ACCEPTED, S.PUBLISHED]
    assert states_before(S.ACCEPTED) == []
