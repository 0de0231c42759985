"""The OpenAPI document says what the node really answers: every refusal a route can give is declared as RFC 9457
problem JSON (``application/problem+json``, the `ProblemView` schema), and request bodies the routes parse
themselves are described by their models, whose nested models are components of the document."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from contracts import CURRENT_VERSIONS, PAYLOAD_MODELS, REPLY_TYPES, SCHEMA_VERSIONS, MessageType
from contracts.examples import example_message_id, example_payload, example_route
from exchange.domain.commands import ID_PATTERN, SUBMITTABLE, BatchIn, MessageIn
from exchange.domain.problems import PROBLEM_JSON
from exchange.entrypoints.http.models import ProblemView

_COMPONENTS = "#/components/schemas/{model}"

#: What each status means for a local system, in the document.
_MEANINGS = {
    400: "Malformed JSON or an invalid cursor (problem JSON)",
    401: "No valid API key or token (problem JSON, with WWW-Authenticate)",
    403: "The caller's role or counties do not allow it (problem JSON)",
    404: "No such message or record for the caller's counties (problem JSON)",
    409: "The message cannot be answered, its id was used for different content, or several senders used the id "
         "and `sender` must name one (problem JSON)",
    413: "Body or batch too large (problem JSON)",
    415: "The body is not application/json (problem JSON)",
    422: "A field fails its contract; `errors` names each, never repeating the value (problem JSON)",
    429: "Over the key's request budget, or the client address is over its budget of failed authentications; retry "
         "after the Retry-After seconds (problem JSON)",
    503: "The outbox is full while the broker is away; retry after the Retry-After seconds (problem JSON)",
}

#: Every authenticated route: no credentials, or over budget.
AUTHENTICATED = (401, 429)
#: Routes that need a permission (send, answer, read, admin) beyond being authenticated.
PERMITTED = (401, 403, 429)
#: Routes whose query or path parameters are validated.
PARAMETERS = (422,)
#: Routes that read a JSON body.
BODY = (400, 413, 415, 422)


def problems(*groups: int | tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses answer problem JSON."""
    statuses = sorted({s for g in groups for s in ((g,) if isinstance(g, int) else g)})
    return {
        status: {
            "description": _MEANINGS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": _COMPONENTS.format(model=ProblemView.__name__)}}},
        }
        for status in statuses
    }


def with_payload(model: type[BaseModel], message_type: MessageType, name: str | None = None,
                 **fields: Any) -> type[BaseModel]:
    """`model` as the document shows it for one message type: `data` is that type's payload schema (one of them when
    it has several versions) and `schema_version` the list of those versions. The route still parses the body with
    `model` and checks `data` itself, so a refusal is the node's own problem in Chinese and English."""
    versions = sorted(SCHEMA_VERSIONS[message_type])
    payloads = tuple(PAYLOAD_MODELS[message_type, v] for v in versions)
    return create_model(
        name or model.__name__, __base__=model, __doc__=model.__doc__,
        schema_version=(Literal[tuple(versions)], CURRENT_VERSIONS[message_type]),  # type: ignore[valid-type]
        data=(Union[payloads] if len(payloads) > 1 else payloads[0],  # type: ignore[valid-type]  # noqa: UP007
              Field(description=f"The {message_type.value} payload (contracts/schemas/<version>/{message_type.value}"
                                ".json).", examples=[example_payload(message_type)])),
        **fields,
    )


def _reply_link(message_type: MessageType) -> dict[str, Any]:
    """A reply names the message it answers; a record names none."""
    if message_type in REPLY_TYPES:
        return {"in_reply_to": (str, Field(pattern=ID_PATTERN, description="The message this one answers."))}
    return {"in_reply_to": (None, Field(None, description="A record answers no message."))}


def _pascal(message_type: MessageType) -> str:
    return "".join(part.title() for part in message_type.value.split("_"))


#: A message as POST /v1/messages takes it, in the document: one schema per type a local system may post, told apart
#: by `type` (a discriminated union), each with its own payload schema as `data`.
def _posted(message_type: MessageType) -> type[BaseModel]:
    """One type's message as the document shows it, with a whole message as its example."""
    model = with_payload(MessageIn, message_type, f"{_pascal(message_type)}MessageIn",
                         type=(Literal[message_type.value], ...), **_reply_link(message_type))
    sender, receiver = example_route(message_type)
    example = {"type": message_type.value, "schema_version": CURRENT_VERSIONS[message_type], "sender": sender,
               "receiver": receiver, "data": example_payload(message_type)}
    if message_type in REPLY_TYPES:
        example["in_reply_to"] = example_message_id(MessageType.OUTFLOW_REGISTRATION)
    model.model_config["json_schema_extra"] = {"examples": [example]}
    model.model_rebuild(force=True)
    return model


class TypedMessageIn(RootModel[Annotated[Union[tuple(  # type: ignore[misc]  # noqa: UP007
        _posted(t) for t in SUBMITTABLE)],
        Field(discriminator="type")]]):
    """A message as POST /v1/messages takes it, in the document: one schema per type a local system may post, told
    apart by `type` (a discriminated union), each with its own payload schema as `data`."""

    model_config = ConfigDict(title="MessageIn")


class TypedBatchIn(BatchIn):
    """A batch as POST /v1/messages/batch takes it, in the document."""

    model_config = ConfigDict(title="BatchIn")

    messages: list[TypedMessageIn] = Field(min_length=1)  # type: ignore[assignment]


def body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its JSON body itself (for its own 400/415/422 problems)."""
    schema = model.model_json_schema(ref_template=_COMPONENTS)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


#: Text that is more than whitespace as the contracts strip it (pydantic's str_strip_whitespace: Unicode White_Space)
#: before its minLength: one character outside that set (JSON Schema's own \\S also excludes \\ufeff).
NOT_BLANK = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"


def _contract_models() -> set[str]:
    """The names of the contracts' payload models and the models inside them, as components of the document."""
    names = {model.__name__ for model in PAYLOAD_MODELS.values()}
    for model in PAYLOAD_MODELS.values():
        names |= model.model_json_schema().get("$defs", {}).keys()
    return names


def _not_blank(schema: dict[str, Any]) -> None:
    """Say of a contract model's required text what the contract does: blank text is refused (the committed schemas
    cannot say it without a new version: the compatibility gate counts a new pattern as a change)."""
    for prop in schema.get("properties", {}).values():
        for option in [prop, *prop.get("anyOf", [])]:
            if option.get("type") == "string" and option.get("minLength", 0) >= 1 and not (
                    {"pattern", "enum", "format", "const"} & option.keys()):
                option["pattern"] = NOT_BLANK


def complete(app: FastAPI) -> None:
    """Add what FastAPI cannot know to the app's document: the problem schemas and the request bodies' nested models
    (pydantic puts them under the body schema's `$defs`; the document wants them as components)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        problem = ProblemView.model_json_schema(ref_template=_COMPONENTS)
        components.update(problem.pop("$defs", {}))
        components[ProblemView.__name__] = problem
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for content in operation.get("requestBody", {}).get("content", {}).values():
                    schema = content.get("schema", {})
                    if "$defs" in schema:
                        components.update(schema["$defs"])
                        content["schema"] = {k: v for k, v in schema.items() if k != "$defs"}
        for name in _contract_models() & components.keys():
            _not_blank(components[name])
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
