"""Checking that a webhook call came from the node: the Standard Webhooks signature (headers webhook-id,
webhook-timestamp, webhook-signature; secret `whsec_…`), verified by the maintained `standardwebhooks` library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


class SignatureError(ValueError):
    """A webhook call whose signature does not verify: missing headers, a timestamp more than five minutes away, or
    no signature made with the subscription's secret. Answer it 4xx and act on nothing in it."""

    def __init__(self, reason: str):
        super().__init__(f"Webhook 签名无效 invalid webhook signature: {reason}")
        self.reason = reason


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> Any:
    """The event (parsed JSON) of a webhook call whose `headers` sign its `body` (the raw bytes, exactly as received)
    with `secret`; raises SignatureError otherwise. `webhook-id` is the event's id: a receiver that has seen it
    already has handled the event (a retry)."""
    try:
        return Webhook(secret).verify(body, dict(headers.items()))
    except WebhookVerificationError as exc:
        raise SignatureError(str(exc)) from None
