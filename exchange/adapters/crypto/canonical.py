"""One byte string per message, the same on every node, for signatures and the evidence chain.

JSON with sorted keys, no insignificant whitespace, UTF-8 (the JCS idea, RFC 8785,
for the values our contracts produce: strings, integers, booleans, null, nested
objects and arrays; no floats appear in a signed message).
"""

from __future__ import annotations

from typing import Any

import orjson


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def message_bytes(attributes: dict[str, Any], data: dict[str, Any]) -> bytes:
    """What a county signs: its envelope attributes (CloudEvents, JSON form) and the event data."""
    return canonical({"attributes": attributes, "data": data})


def roster_figures_bytes(figures: dict[str, Any]) -> bytes:
    """What a residence county signs of a roster check's counts (monitoring topic, ``cn.mpx.roster.answered``)."""
    return canonical({"purpose": "mpx-roster-figures", "figures": figures})


def monitoring_event_bytes(event: dict[str, Any]) -> bytes:
    """What a receiving county signs of an obligation lifecycle event (monitoring topic)."""
    return canonical({"purpose": "mpx-monitoring-event", "event": event})
