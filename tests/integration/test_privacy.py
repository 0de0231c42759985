"""Personal data stays between the two counties: none in any log line, even at DEBUG, nor in errors."""

from __future__ import annotations

import logging
import re

import pytest

from contracts import MessageType

from tests.integration.conftest import Federation, eventually
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message

ID_NUMBER = re.compile(r"(?<![0-9A-Fa-f])\d{17}[\dXx](?![0-9A-Fa-f])")  # not inside a hash


async def test_no_log_line_at_debug_carries_a_name_or_id_number(federation: Federation,
                                                                 caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    sent = [message(kind, HUI, HAISHU, seed) for seed, kind in
            enumerate([MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION], start=21)]
    sent += [message(kind, HAISHU, HUI, seed) for seed, kind in
             enumerate([MessageType.PREGNANCY_CHECK, MessageType.BIRTH], start=31)]
    ids = [await (hui if m["sender"] == HUI else haishu).client.send(m) for m in sent]
    for message_id, m in zip(ids, sent):
        receiver = haishu if m["receiver"] == HAISHU else hui
        await eventually(lambda r=receiver, i=message_id: _arrived(r, i), what="every record delivered")
        await receiver.client.answer(message_id, feedback("confirmed"))
    bad = dict(sent[0], data={**sent[0]["data"], "person": {**sent[0]["data"]["person"], "birth_date": "1900-01-01"}})
    refused = await hui.http.post("/v1/messages", json=bad)  # an error must not echo the person either
    assert refused.status_code == 422

    names = {p["name"] for m in sent for p in _people(m["data"])}
    numbers = {p["id_number"] for m in sent for p in _people(m["data"])}
    lines = [record.getMessage() for record in caplog.records]
    lines.append(refused.text)
    assert len(lines) > 50, "DEBUG logging was not captured"
    for line in lines:
        assert not ID_NUMBER.search(line), f"an ID number in: {line[:120]}"
        assert not any(name in line for name in names), f"a name in: {line[:120]}"
    print(f"scanned {len(lines)} log lines; {len(names)} names and {len(numbers)} ID numbers never appeared")


def _people(data: dict) -> list[dict]:
    found = []
    for value in data.values():
        if isinstance(value, dict) and "id_number" in value and "name" in value:
            found.append(value)
    return found


async def _arrived(node, message_id: str) -> bool:  # noqa: ANN001
    return any(i["id"] == message_id for i in await node.client.inbox_all())
