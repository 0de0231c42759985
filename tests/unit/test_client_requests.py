"""The client library without a node: which requests it repeats after a timeout (those whose repeat the node
recognises, with the same ids), and the webhook signature check against the Standard Webhooks test vector."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from adapters import Client, SignatureError, verify_webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _always_timing_out(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("no answer in time", request=request)

    return httpx.MockTransport(handle)


def test_a_message_is_tried_again_after_timeouts_always_with_the_id_chosen_before_the_first_attempt():
    seen: list[httpx.Request] = []
    with Client("http://node.test", transport=_always_timing_out(seen), retries=2, backoff=0) as node:
        with pytest.raises(httpx.ReadTimeout):
            node.send({"type": "birth", "sender": "330203", "receiver": "621227", "data": {}})
    ids = [json.loads(r.content)["id"] for r in seen]
    assert len(ids) == 3 and len(set(ids)) == 1 and ids[0]


def test_a_clarification_request_is_not_repeated_after_a_timeout():
    """Each request the node takes makes a new one: a repeat could ask twice, so the caller decides."""
    seen: list[httpx.Request] = []
    with Client("http://node.test", transport=_always_timing_out(seen), retries=2, backoff=0) as node:
        with pytest.raises(httpx.ReadTimeout):
            node.ask_clarification("hui-1", {"reason": "unclear"})
    assert len(seen) == 1


def test_a_busy_node_is_asked_again_after_the_pause_it_names():
    answers = iter([httpx.Response(503, headers={"Retry-After": "0"}, json={"type": "urn:mpx:problem:outbox_full"}),
                    httpx.Response(202, json={"id": "x-1"})])
    with Client("http://node.test", transport=httpx.MockTransport(lambda r: next(answers)), backoff=0) as node:
        assert node.send({"id": "x-1", "type": "birth", "sender": "330203", "receiver": "621227", "data": {}}) == "x-1"


def test_the_library_signs_as_the_standard_s_published_vector():
    signed = Webhook(SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC),
                                  '{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(body: bytes, at: datetime, secret: str = SECRET) -> dict[str, str]:
    return {"webhook-id": "msg_1", "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign("msg_1", at, body)}


def test_a_signed_event_verifies_and_comes_back_parsed():
    body = '{"type": "record.received", "data": {"id": "hui-1"}}'.encode()
    headers = httpx.Headers(_headers(body, datetime.now(UTC)))
    assert verify_webhook(body, headers, SECRET) == {"type": "record.received", "data": {"id": "hui-1"}}


@pytest.mark.parametrize("case", ["changed body", "other secret", "the vector's old timestamp", "no signature"])
def test_an_event_not_signed_by_the_subscription_s_secret_now_is_refused(case: str):
    body = b'{"test": 2432232314}'
    headers = _headers(body, datetime.now(UTC))
    if case == "changed body":
        body = b'{"test": 2432232315}'
    elif case == "other secret":
        headers = _headers(body, datetime.now(UTC), secret="whsec_" + "QUJD" * 8)
    elif case == "the vector's old timestamp":
        headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
                   "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    else:
        del headers["webhook-signature"]
    with pytest.raises(SignatureError, match="签名无效"):
        verify_webhook(body, headers, SECRET)
