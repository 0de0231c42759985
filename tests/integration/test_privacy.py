"""Personal data stays between the two counties: none in any log line, even at DEBUG, nor in errors."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from contracts import MessageType
from tests.integration.conftest import Federation, RunningNode, eventually, in_inbox
from tests.integration.test_round_trip import HAISHU, HUI, feedback, message

ID_NUMBER = re.compile(r"(?<![0-9A-Fa-f])\d{17}[\dXx](?![0-9A-Fa-f])")  # not inside a hash


async def test_no_log_line_at_debug_carries_a_name_or_id_number(federation: Federation,
                                                                 caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    hui = await federation.start(HUI)
    haishu = await federation.start(HAISHU)
    sent, _, refused = await exchange_people(hui, haishu, first_seed=21)

    names, numbers = people_in(sent)
    lines = [record.getMessage() for record in caplog.records]
    lines.append(refused.text)
    assert len(lines) > 50, "DEBUG logging was not captured"
    for line in lines:
        assert not ID_NUMBER.search(line), f"an ID number in: {line[:120]}"
        assert not any(name in line for name in names), f"a name in: {line[:120]}"
    print(f"scanned {len(lines)} log lines; {len(names)} names and {len(numbers)} ID numbers never appeared")


async def exchange_people(hui: RunningNode, haishu: RunningNode, first_seed: int
                          ) -> tuple[list[dict], list[str], httpx.Response]:
    """Records about people both ways (outflow, return, pregnancy check, birth), delivered and answered, and one
    refused for a wrong birth date: the messages, their ids, and the refusal (which must not echo the person)."""
    sent = [message(kind, HUI, HAISHU, seed) for seed, kind in
            enumerate([MessageType.OUTFLOW_REGISTRATION, MessageType.RETURN_CANCELLATION], start=first_seed)]
    sent += [message(kind, HAISHU, HUI, seed) for seed, kind in
             enumerate([MessageType.PREGNANCY_CHECK, MessageType.BIRTH], start=first_seed + 10)]
    ids = [await (hui if m["sender"] == HUI else haishu).client.send(m) for m in sent]
    for message_id, m in zip(ids, sent):
        receiver = haishu if m["receiver"] == HAISHU else hui
        await eventually(lambda r=receiver, i=message_id: in_inbox(r, i), what="every record delivered")
        await receiver.client.answer(message_id, feedback("confirmed"))
    bad = dict(sent[0], data={**sent[0]["data"], "person": {**sent[0]["data"]["person"], "birth_date": "1900-01-01"}})
    refused = await hui.http.post("/v1/messages", json=bad)
    assert refused.status_code == 422
    return sent, ids, refused


def people_in(sent: list[dict]) -> tuple[set[str], set[str]]:
    """The names and ID numbers of everyone the messages name."""
    people = [v for m in sent for v in m["data"].values() if isinstance(v, dict) and "id_number" in v and "name" in v]
    return {p["name"] for p in people}, {p["id_number"] for p in people}
