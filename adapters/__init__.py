"""The exchange's client library (distribution mpx-client, adapters/pyproject.toml): the sync and async clients, the
webhook signature check; the Excel sheets (workbook, extra `excel`), the folder bridge (folder, extra `folder`) and the
traffic simulator build on them."""

from adapters.client import AsyncClient, Client, ProblemError, message, payload
from adapters.webhooks import SignatureError, verify_webhook

__all__ = ["AsyncClient", "Client", "ProblemError", "SignatureError", "message", "payload", "verify_webhook"]
