"""The OpenAPI document says what the node really answers: every refusal a route can give is declared as RFC 9457
problem JSON (``application/problem+json``, the `ProblemView` schema), and request bodies the routes parse
themselves are described by their models, whose nested models are components of the document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

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


def body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its JSON body itself (for its own 400/415/422 problems)."""
    schema = model.model_json_schema(ref_template=_COMPONENTS)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


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
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
