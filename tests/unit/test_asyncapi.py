"""The AsyncAPI document of every topic (contracts/schemas/asyncapi.json): committed as the models give it, valid
under the official AsyncAPI 3.0.0 JSON Schema (not our code: see asyncapi_documents.py), a check that does fail
on broken documents, one channel per topic of TopicScheme, and true to what a node puts on the wire."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts import REPLY_TYPES, MessageType
from contracts.asyncapi import document as generated_document
from contracts.examples import example_payload
from contracts.schemas import SCHEMAS_DIR, asyncapi_path, render, schema_models
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.sealing import SealingKey
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.kafka.topics import TopicScheme
from exchange.adapters.unit_of_work import Outbox
from exchange.config import Settings
from exchange.domain.message import Outgoing, new_envelope
from tests.unit.asyncapi_documents import (
    document,
    message_errors,
    refs,
    resolve,
    spec,
    spec_errors,
    spec_is_pinned,
)

REGENERATE = "run `python -m contracts.schemas` and commit the result"
HUI, HAISHU = "621227", "330203"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_committed_document_is_what_the_models_give():
    path = asyncapi_path()
    assert path.exists(), f"{path} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render(generated_document()), f"{path} is stale: {REGENERATE}"


def test_the_official_schema_is_the_pinned_one():
    assert spec_is_pinned(), "tests/unit/asyncapi_spec/3.0.0.json differs from the file vendored from @asyncapi/specs"
    assert spec()["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"


def test_the_document_is_valid_asyncapi_3_0_0():
    assert document()["asyncapi"] == "3.0.0"
    assert spec_errors(document()) == []


def _broken(edit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    edit(doc)
    return doc


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("no info", lambda d: d.pop("info")),
        ("an AsyncAPI 2 version", lambda d: d.update(asyncapi="2.6.0")),
        ("an AsyncAPI 2 operation action", lambda d: d["operations"]["sendRecords"].update(action="publish")),
        ("a parameter with an AsyncAPI 2 schema", lambda d: d["channels"]["records"]["parameters"]["province"]
         .update(schema={"type": "string"})),
        ("a channel address that is no string", lambda d: d["channels"]["keys"].update(address=["mpx.v1.keys"])),
        ("a misspelt message field", lambda d: d["channels"]["reminders"]["messages"]["reminder"]
         .update(payloads={"type": "object"})),
        ("a Kafka topic of no partition", lambda d: d["channels"]["keys"]["bindings"]["kafka"].update(partitions=0)),
        ("an unknown cleanup policy", lambda d: d["channels"]["keys"]["bindings"]["kafka"]["topicConfiguration"]
         .update({"cleanup.policy": ["compress"]})),
        ("a correlation id outside the message", lambda d: d["channels"]["records"]["messages"]["feedback"]
         ["correlationId"].update(location="ce_inreplyto")),
    ],
)
def test_the_check_fails_on_a_broken_document(what: str, edit: Any):
    assert spec_errors(_broken(edit)) != [], f"{what}: not caught"


def test_every_reference_resolves_and_every_operation_uses_its_own_channel():
    for where, ref in refs(document()):
        assert resolve(ref) is not None, f"{where}: {ref}"
    for name, operation in document()["operations"].items():
        channel = operation["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in operation.get("messages", [])), name


def test_every_payload_and_control_model_is_on_some_topic():
    referenced = {ref for _, ref in refs(document()) if not ref.startswith("#")}
    assert referenced == {f"{v}/{n}.json" for v, n in schema_models() if n != "envelope"}
    assert all((SCHEMAS_DIR / ref).is_file() for ref in referenced)


def _address(channel: dict[str, Any], **values: str) -> str:
    address = channel["address"]
    for name, value in values.items():
        address = address.replace("{" + name + "}", value)
    return address


def test_there_is_one_channel_per_topic_of_the_topic_scheme():
    prefix = document()["components"]["parameters"]["prefix"]["default"]
    assert prefix == Settings.model_fields["topic_prefix"].default
    scheme = TopicScheme(prefix, 8)
    channels = document()["channels"]
    named = {getattr(scheme, a) for a in dir(TopicScheme) if a.endswith("_topic") and isinstance(
        getattr(TopicScheme, a), property)}
    fixed = {_address(c, prefix=prefix) for c in channels.values() if "{province}" not in c["address"]}
    assert fixed == named and len(fixed) == len(channels) - 1
    [records] = [c for c in channels.values() if "{province}" in c["address"]]
    for county in ("330203", "621227", "542526"):
        topic = _address(records, prefix=prefix, province=county[:2])
        assert topic == scheme.topic_for(county) and scheme.is_records_topic(topic)


def _sender_and_receiver() -> Trust:
    """Hui's node, holding Haishu's public sealing key, as its relay seals and signs."""
    hui = Trust(None, PayloadCipher.from_setting(""))  # type: ignore[arg-type] - wire() needs no database
    hui.ring.add_signing(SigningKey.generate(HUI, f"{HUI}-20260101T000000Z-1f2e", T0))
    hui.sealing.add(SealingKey.generate(HAISHU, f"seal-{HAISHU}-20260101T000000Z-a1b2", T0).public_key())
    return hui


@pytest.mark.parametrize("message_type", list(MessageType))
def test_every_record_a_relay_publishes_is_what_the_document_says(message_type: MessageType):
    hui = _sender_and_receiver()
    data = example_payload(message_type, seed=3, registration_region=HUI, residence_region=HAISHU)
    reply = message_type in REPLY_TYPES
    envelope = new_envelope(message_type=message_type, schema_version="1.0", sender=HUI, receiver=HAISHU,
                            now=datetime.now(UTC), message_id=str(uuid.uuid4()),
                            in_reply_to=str(uuid.uuid4()) if reply else None)
    row = Outbox(TopicScheme("mpx.v1", 8), hui, "hui").message(Outgoing(envelope, data, ""), datetime.now(UTC))
    headers, value = hui.wire([(k, v.encode()) for k, v in orjson.loads(row["headers"])],
                              hui.open_value(row["value"], envelope.id))
    wire_headers = {k: v.decode() for k, v in headers}
    assert message_errors("records", message_type.value, headers=wire_headers, value=orjson.loads(value),
                          key=row["key"]) == []
    # In clear (binding 1.0, the migration window), the payload is the contract's own schema.
    assert message_errors("records", message_type.value, headers=wire_headers, value=data) == []
    # The document tells one type from another, and a reply from a record.
    other = MessageType.BIRTH if message_type is not MessageType.BIRTH else MessageType.FEEDBACK
    assert message_errors("records", other.value, headers=wire_headers, value=orjson.loads(value)) != []
    assert message_errors("records", message_type.value, headers={**wire_headers, "ce_type": "cn.mpx.x"},
                          value=orjson.loads(value)) != []
    unsigned = {k: v for k, v in wire_headers.items() if not k.startswith("mpx-")}
    assert message_errors("records", message_type.value, headers=unsigned, value=orjson.loads(value)) != []


def test_the_document_names_the_headers_the_node_writes():
    from contracts import asyncapi
    from exchange.adapters.crypto import key_records
    from contracts import cloudevents

    assert (asyncapi.KEY_ID_HEADER, asyncapi.SIGNATURE_HEADER) == (key_records.KEY_ID_HEADER,
                                                                    key_records.SIGNATURE_HEADER)
    assert asyncapi.CONTENT_TYPE_HEADER == cloudevents.CONTENT_TYPE
