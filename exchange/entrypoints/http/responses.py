"""The JSON every route answers with: FastAPI validates what a route returns against its `response_model`, and this
class writes it with orjson (non-ASCII as UTF-8, no spaces), as the node always has."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """`default_response_class` of the node's and the monitor's apps. (FastAPI's own ORJSONResponse is deprecated;
    and with no response class given, FastAPI would write models with pydantic, UTC as Z instead of +00:00.)"""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
