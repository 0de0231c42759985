"""One index of which message goes on which topic: the AsyncAPI 3.0.0 document of every Kafka topic of a
federation (消息主题一览), generated from the contract models.

Written by ``python -m contracts.schemas`` beside the JSON Schemas, as ``contracts/schemas/asyncapi.json``; a
test fails when the committed file differs from what the models give, and validates it against the official
AsyncAPI 3.0.0 JSON Schema. Payloads are not copied in: each message references the committed JSON Schema file
of its model (``1.0/birth.json``, relative to the document), so the models stay the one source. Those files are
JSON Schema 2020-12 documents that use only keywords draft-07 (AsyncAPI's Schema Object) reads the same way.

Headers follow the CloudEvents Kafka protocol binding in binary content mode: each envelope attribute as a
``ce_<name>`` header, ``content-type`` for ``datacontenttype``; every record of a records topic is signed by its
sending county in ``mpx-key-id`` and ``mpx-signature`` (not CloudEvents attributes, not signed themselves).
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import TypeAdapter

from contracts.control import CONTROL_MODELS, CONTROL_VERSION, KeyId, MonitoringEvent, Signature
from contracts.envelope import Envelope, dataschema_for
from contracts.message_types import CONTROL_TYPES, REPLY_TYPES, ROSTER_TYPES, MessageType, ce_type
from contracts.registry import PAYLOAD_MODELS

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
#: File name of the document, in contracts/schemas/ beside the version directories its references point into.
DOCUMENT_NAME = "asyncapi.json"
#: Version of the wire binding the document describes: 1.0 payloads in clear, 1.1 sealed to the receiver.
BINDING_VERSION = "1.1"

KEY_ID_HEADER = "mpx-key-id"
SIGNATURE_HEADER = "mpx-signature"
CONTENT_TYPE_HEADER = "content-type"
CE_PREFIX = "ce_"

#: Every topic a node creates: the broker stamps each record with its own clock (LogAppendTime).
_TIME_CONFIG = {"message.timestamp.type": "LogAppendTime"}
_COUNTY_KEY = {"type": "string", "pattern": "^[0-9]{6}$", "description": "the receiving county's code (GB/T 2260)"}
_KEY_ID_PATTERN = TypeAdapter(KeyId).json_schema()["pattern"].strip("^$")


def schema_ref(version: str, name: str) -> dict[str, str]:
    """A reference to a committed schema file, relative to the document."""
    return {"$ref": f"{version}/{name}.json"}


def _control_ref(name: str) -> dict[str, str]:
    """A reference to the schema of a model of contracts.control, by its name in CONTROL_MODELS."""
    if name not in CONTROL_MODELS:
        raise KeyError(name)
    return schema_ref(CONTROL_VERSION, name)


def _header_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An attribute's schema as a header: absent rather than null, so the null branch and default go."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
    branches = schema.pop("anyOf", None)
    if branches is not None:
        [value] = [b for b in branches if b != {"type": "null"}]
        schema = {**value, **schema}
    return schema


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def record_headers_schema() -> dict[str, Any]:
    """The headers of every record on a records topic, from the envelope model and the signature headers."""
    envelope = Envelope.model_json_schema(mode="validation")
    properties: dict[str, Any] = {}
    required = [CONTENT_TYPE_HEADER, CE_PREFIX + "specversion"]
    for name, schema in envelope["properties"].items():
        header = CONTENT_TYPE_HEADER if name == "datacontenttype" else CE_PREFIX + name
        properties[header] = _header_schema(schema)
        if name in envelope.get("required", ()) and header not in required:
            required.append(header)
    properties[KEY_ID_HEADER] = {
        **_schema_of(KeyId),
        "description": "id of the sending county's Ed25519 signing key that signed the record",
    }
    properties[SIGNATURE_HEADER] = {
        **_schema_of(Signature),
        "description": "Ed25519 signature (base64url, no padding) over canonical JSON of {attributes, data}: the "
        "ce_* attributes and content-type as these headers carry them, and the record value as it travels",
    }
    required += [KEY_ID_HEADER, SIGNATURE_HEADER]
    return {
        "type": "object",
        "description": "CloudEvents 1.0 Kafka protocol binding, binary content mode: every envelope attribute as a "
        "ce_<name> header (UTF-8), datacontenttype as content-type; attributes that are absent have no header. "
        "Signed by the sending county (mpx-key-id, mpx-signature).",
        "properties": dict(sorted(properties.items())),
        "required": sorted(required),
    }


def _signature_headers(signer: str, signed: str) -> dict[str, Any]:
    """``mpx-key-id`` and ``mpx-signature`` of a control record signed over its value alone."""
    return {
        KEY_ID_HEADER: {**_schema_of(KeyId), "description": f"id of the Ed25519 signing key of {signer}"},
        SIGNATURE_HEADER: {**_schema_of(Signature), "description": f"Ed25519 signature of {signer} (base64url, "
                           f"no padding) over canonical JSON of {signed}"},
    }


def _schema_of(annotated: Any) -> dict[str, Any]:
    return {k: v for k, v in TypeAdapter(annotated).json_schema().items() if k != "title"}


def _json_headers(ce_types: list[str] | None = None, signed: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {CONTENT_TYPE_HEADER: {"type": "string", "const": "application/json"}}
    required = [CONTENT_TYPE_HEADER]
    if ce_types:
        properties[CE_PREFIX + "type"] = (
            {"type": "string", "const": ce_types[0]} if len(ce_types) == 1 else {"type": "string", "enum": ce_types}
        )
        required.append(CE_PREFIX + "type")
    if signed:
        properties.update(signed)
        required += list(signed)
    return {"type": "object", "properties": properties, "required": required}


def _kafka_message(key: dict[str, Any]) -> dict[str, Any]:
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _kafka_channel(*, compacted: bool = False, partitions: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(_TIME_CONFIG)
    if compacted:
        config["cleanup.policy"] = ["compact"]
    binding: dict[str, Any] = {"topicConfiguration": config, "bindingVersion": KAFKA_BINDING_VERSION}
    if partitions is not None:
        binding["partitions"] = partitions
    return {"kafka": binding}


def record_message(message_type: MessageType) -> dict[str, Any]:
    """One message type on a records topic: its headers, and its value sealed (1.1) or in clear (1.0)."""
    versions = sorted((v for (t, v) in PAYLOAD_MODELS if t is message_type), key=_version_key)
    first = PAYLOAD_MODELS[(message_type, versions[0])]
    headers: dict[str, Any] = {
        "properties": {
            CE_PREFIX + "type": {"const": ce_type(message_type)},
            CE_PREFIX + "schemaversion": {"enum": versions},
            CE_PREFIX + "dataschema": {"enum": [dataschema_for(message_type, v) for v in versions]},
        },
    }
    if message_type in REPLY_TYPES:
        headers["required"] = [CE_PREFIX + "inreplyto"]
    else:
        headers["not"] = {"required": [CE_PREFIX + "inreplyto"]}
    message: dict[str, Any] = {
        "name": message_type.value,
        "title": ce_type(message_type),
        "summary": (first.__doc__ or message_type.value).split(", payload schema")[0].strip(),
        "contentType": "application/json",
        "headers": {"allOf": [{"$ref": "#/components/schemas/RecordHeaders"}, headers]},
        "payload": {
            "description": f"Binding {BINDING_VERSION}: the payload sealed to the receiving county (the first "
            "schema, sealed_data); opened, it is the JSON of the schema version ce_schemaversion names (the "
            "others). A sender still on binding 1.0 sends that JSON in clear, which a receiver takes only inside "
            "the migration window (MPX_ACCEPT_CLEAR_RECORDS).",
            "anyOf": [_control_ref("sealed_data"),
                      *(schema_ref(v, message_type.value) for v in versions)],
        },
        "bindings": _kafka_message(_COUNTY_KEY),
        "tags": [{"name": "control" if message_type in CONTROL_TYPES
                  else "reply" if message_type in REPLY_TYPES
                  else "roster" if message_type in ROSTER_TYPES else "record"}],
    }
    if message_type in REPLY_TYPES:
        message["correlationId"] = {"description": "the id of the message this answers (or, for a withdrawal, "
                                                   "withdraws; for a clarification request, the record it asks "
                                                   "about; for a verification step, the request)",
                                    "location": "$message.header#/ce_inreplyto"}
    return message


def _param(description: str, **more: Any) -> dict[str, Any]:
    return {"description": description, **more}


#: Every channel's address starts with the topic prefix.
PREFIX_PARAMETER = _param("MPX_TOPIC_PREFIX, the same on every node of a federation", default="mpx.v1")
_PREFIX = {"$ref": "#/components/parameters/prefix"}


def channels() -> dict[str, Any]:
    return {
        "records": {
            "address": "{prefix}.records.{province}",
            "title": "Records to one province (记录)",
            "description": "Everything addressed to the counties of one province: business records, feedback and "
            "the nodes' own control records (delivery receipts, reconciliation digests, resend requests). Record "
            "key = receiving county; partition = murmur2(key) mod MPX_TOPIC_PARTITIONS (Kafka's default "
            "partitioner), so one county's records keep their order. Sealed to the receiving county and signed by "
            "the sending one.",
            "parameters": {
                "prefix": _PREFIX,
                "province": _param("first two digits of the receiving county's code (GB/T 2260), e.g. 33 "
                                   "Zhejiang, 62 Gansu", examples=["33", "62", "54"]),
            },
            "messages": {mt.value: record_message(mt) for mt in MessageType},
            "bindings": _kafka_channel(),
        },
        "monitor": {
            "address": "{prefix}.monitor",
            "title": "Obligation lifecycle events (监测)",
            "description": "An obligation's whole current state each time it changes, keyed by its receiving "
            "county, which signs it; read by the national monitor. No personal field.",
            "parameters": {"prefix": _PREFIX},
            "messages": {
                "monitoring_event": {
                    "name": "monitoring_event",
                    "title": "cn.mpx.obligation.<event>",
                    "summary": "An obligation opened, answered or cancelled; ce_type names the payload's event.",
                    "contentType": "application/json",
                    "headers": _json_headers(
                        [f"cn.mpx.obligation.{e}" for e in get_args(MonitoringEvent.model_fields["event"].annotation)],
                        _signature_headers("the obligation's receiving county",
                                           '{"purpose": "mpx-monitoring-event", "event": <the value>}'),
                    ),
                    "payload": _control_ref("monitoring_event"),
                    "bindings": _kafka_message(_COUNTY_KEY),
                },
                "roster_figures": {
                    "name": "roster_figures",
                    "title": "cn.mpx.roster.answered",
                    "summary": "The counts of a monthly roster check (定期清查) between two counties, once the "
                               "residence county answered it; keyed by and signed by the residence county.",
                    "contentType": "application/json",
                    "headers": _json_headers(
                        ["cn.mpx.roster.answered"],
                        _signature_headers("the roster's residence county",
                                           '{"purpose": "mpx-roster-figures", "figures": <the value>}'),
                    ),
                    "payload": _control_ref("roster_figures"),
                    "bindings": _kafka_message(_COUNTY_KEY),
                },
            },
            "bindings": _kafka_channel(),
        },
        "reminders": {
            "address": "{prefix}.reminders",
            "title": "Reminders (催办提醒)",
            "description": "A county's own obligations about to fall (or fallen) overdue, keyed by that county: "
            "at 50 % and 75 % of the allowed time, one working day before the deadline and at breach. Unsigned; "
            "no personal field.",
            "parameters": {"prefix": _PREFIX},
            "messages": {
                "reminder": {
                    "name": "reminder",
                    "title": "cn.mpx.reminder",
                    "summary": "One reminder of one obligation.",
                    "contentType": "application/json",
                    "headers": _json_headers(["cn.mpx.reminder"]),
                    "payload": _control_ref("reminder"),
                    "bindings": _kafka_message(_COUNTY_KEY),
                },
            },
            "bindings": _kafka_channel(),
        },
        "agreements": {
            "address": "{prefix}.agreements",
            "title": "Cooperation agreements (区域协作协议)",
            "description": "Signed agreements, keyed <id>:<version>; compacted, one partition, read whole by "
            "every node.",
            "parameters": {"prefix": _PREFIX},
            "messages": {
                "signed_agreement": {
                    "name": "signed_agreement",
                    "title": "Signed agreement",
                    "summary": "An agreement signed by a key in MPX_AGREEMENT_KEYS.",
                    "contentType": "application/json",
                    "headers": _json_headers(),
                    "payload": _control_ref("signed_agreement"),
                    "bindings": _kafka_message({"type": "string", "maxLength": 80,
                                                "description": "<agreement id>:<version>"}),
                },
            },
            "bindings": _kafka_channel(compacted=True, partitions=1),
        },
        "keys": {
            "address": "{prefix}.keys",
            "title": "Public keys (公钥)",
            "description": "Every county's public signing keys, their revocations and its public sealing keys; "
            "compacted, one partition, read whole by every node and the monitor.",
            "parameters": {"prefix": _PREFIX},
            "messages": {
                "key_record": {
                    "name": "key_record",
                    "title": "Public signing key",
                    "summary": "A county's Ed25519 public key and its endorsement.",
                    "contentType": "application/json",
                    "headers": _json_headers(),
                    "payload": _control_ref("key_record"),
                    "bindings": _kafka_message({"type": "string", "pattern": f"^[0-9]{{6}}:{_KEY_ID_PATTERN}$",
                                                "description": "<county>:<key id>"}),
                },
                "key_revocation": {
                    "name": "key_revocation",
                    "title": "Key revocation",
                    "summary": "A signing key withdrawn at once and for good.",
                    "contentType": "application/json",
                    "headers": _json_headers(),
                    "payload": _control_ref("key_revocation"),
                    "bindings": _kafka_message({"type": "string",
                                                "pattern": f"^revoked:signing:[0-9]{{6}}:{_KEY_ID_PATTERN}$",
                                                "description": "revoked:signing:<county>:<key id>"}),
                },
                "sealing_key_record": {
                    "name": "sealing_key_record",
                    "title": "Public sealing key",
                    "summary": "A county's X25519 public sealing key, signed by one of its signing keys.",
                    "contentType": "application/json",
                    "headers": _json_headers(),
                    "payload": _control_ref("sealing_key_record"),
                    "bindings": _kafka_message({"type": "string", "pattern": f"^seal:[0-9]{{6}}:{_KEY_ID_PATTERN}$",
                                                "description": "seal:<county>:<key id>"}),
                },
            },
            "bindings": _kafka_channel(compacted=True, partitions=1),
        },
        "deadletter": {
            "address": "{prefix}.deadletter",
            "title": "Dead letters (死信)",
            "description": "Every record a node refused (quarantined), once, keyed by the refused record's key; "
            "partition = murmur2(key) mod partitions for a 6-digit key, else 0. Personal data only sealed.",
            "parameters": {"prefix": _PREFIX},
            "messages": {
                "dead_letter": {
                    "name": "dead_letter",
                    "title": "Dead letter",
                    "summary": "A refused record, with why in mpx_dlq_* headers.",
                    "headers": _control_ref("dead_letter_headers"),
                    "payload": {
                        "description": "The refused record's value: as it came when sealed, else (in clear, or "
                        "not even JSON) sealed to the newest sealing key of the record key's county; as it came (any "
                        "bytes) only where the refusing node holds no sealing key of that county.",
                        "anyOf": [_control_ref("sealed_data"), {}],
                    },
                    "bindings": _kafka_message({"type": "string", "maxLength": 80,
                                                "description": "the refused record's key (cut to 80 characters)"}),
                },
            },
            "bindings": _kafka_channel(),
        },
    }


def _operation(action: str, channel: str, description: str, messages: list[str] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"action": action, "channel": {"$ref": f"#/channels/{channel}"},
                                 "description": description}
    if messages is not None:
        operation["messages"] = [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages]
    return operation


def operations() -> dict[str, Any]:
    """What a county node (and the national monitor) does with each topic."""
    records = [mt.value for mt in MessageType]
    return {
        "sendRecords": _operation("send", "records", "A node's relay publishes what its counties send, sealed to "
                                  "the receiving county and signed, from its outbox, in order.", records),
        "receiveRecords": _operation("receive", "records", "A node reads its counties' partitions of its "
                                     "provinces' topics (assigned by hand, no consumer group).", records),
        "sendMonitoringEvents": _operation("send", "monitor", "A node announces each change of an obligation its "
                                           "counties owe, and each roster check its counties answered.",
                                           ["monitoring_event", "roster_figures"]),
        "receiveMonitoringEvents": _operation("receive", "monitor", "The national monitor (mpx monitor) reads "
                                              "every event.", ["monitoring_event", "roster_figures"]),
        "sendReminders": _operation("send", "reminders", "A node reminds its counties of obligations due.",
                                    ["reminder"]),
        "sendAgreements": _operation("send", "agreements", "POST /v1/agreements, MPX_AGREEMENTS_FILE.",
                                     ["signed_agreement"]),
        "receiveAgreements": _operation("receive", "agreements", "Every node reads the topic from its start.",
                                        ["signed_agreement"]),
        "sendKeys": _operation("send", "keys", "A node publishes its counties' public keys at start and after "
                               "a rotation; mpx keys revoke-signing publishes a revocation.",
                               ["key_record", "key_revocation", "sealing_key_record"]),
        "receiveKeys": _operation("receive", "keys", "Every node and the monitor read the topic from its start "
                                  "and keep reading.", ["key_record", "key_revocation", "sealing_key_record"]),
        "sendDeadLetters": _operation("send", "deadletter", "A node copies every record it quarantines.",
                                      ["dead_letter"]),
    }


def document() -> dict[str, Any]:
    """The whole AsyncAPI document."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Migrant-population exchange topics (流动人口信息跨区域交换 消息主题)",
            "version": BINDING_VERSION,
            "description": "Every Kafka topic of a federation of county nodes and what each carries. Generated "
            "from the contract models in contracts/ by `python -m contracts.schemas`; do not edit. Payloads "
            "reference the committed JSON Schemas beside this file (JSON Schema 2020-12 files that use only "
            "keywords draft-07 reads the same way). Topics a node creates keep the broker's time "
            "(message.timestamp.type=LogAppendTime), against which signatures and key validity are judged.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The federation's Kafka cluster (MPX_KAFKA_BOOTSTRAP_SERVERS).",
                "variables": {"bootstrap": {"default": "localhost:9092", "description": "host:port"}},
            },
        },
        "channels": channels(),
        "operations": operations(),
        "components": {
            "parameters": {"prefix": PREFIX_PARAMETER},
            "schemas": {"RecordHeaders": record_headers_schema()},
        },
    }
