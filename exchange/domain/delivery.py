"""Delivery states of one message and the only ways they may move.

A message a county sent goes accepted → published → delivered → answered; one it
received is delivered → answered. Events can arrive out of order over Kafka (a
feedback may overtake the delivery receipt), so a state never moves backwards.
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    OUT = "out"  # sent by a county this node serves
    IN = "in"  # received for a county this node serves


class DeliveryState(StrEnum):
    ACCEPTED = "accepted"  # stored durably in the sender's node (outbox written)
    PUBLISHED = "published"  # written to Kafka by the relay
    DELIVERED = "delivered"  # stored by the receiving node (receipt came back)
    ANSWERED = "answered"  # the receiver's first feedback arrived


_RANK = {state: rank for rank, state in enumerate(DeliveryState)}


def advance(current: DeliveryState, event: DeliveryState) -> DeliveryState:
    """The state after `event` is observed: the later of the two."""
    return event if _RANK[event] > _RANK[current] else current


def states_before(state: DeliveryState) -> list[DeliveryState]:
    """States that `state` may overwrite (for conditional updates in storage)."""
    return [s for s in DeliveryState if _RANK[s] < _RANK[state]]
