"""Webhook push (推送): which events a county's case system may subscribe to, when a failed delivery is tried
again, what an answer means, and when an endpoint is given up.

Pure rules; the outbox of deliveries is written by the unit of work (exchange/adapters/unit_of_work.py) and sent by
the dispatcher (exchange/adapters/webhooks/dispatcher.py), which asks these functions at every step.

- **Order.** A subscription's deliveries go out one at a time in the order they were stored (the county's events in
  the order they happened); the next waits while the one before it waits for a retry, and goes once that one
  succeeded or was given up (``failed``).
- **Schedule.** The first attempt is immediate; after a failure the next comes after 5 s, 5 min, 30 min, 2 h, 5 h,
  10 h and 10 h, each stretched by up to `JITTER` at random; after the eighth failed attempt the delivery is
  ``failed`` (a to-do item and a metric say so) and can be retried by hand.
- **Answers.** Any 2xx within the timeout is success; 410 Gone means the receiver wants no more (the subscription is
  disabled at once and the delivery is not retried, as Standard Webhooks says); anything else (3xx, 4xx, 5xx, a
  timeout, a refused connection) is a failure to retry.
- **Disabling.** An endpoint failing without a single success for longer than the configured time is disabled; a
  disabled subscription stores no new events until it is resumed. A paused one stores them and holds them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit


class WebhookKind(StrEnum):
    """What a subscription asks for (a closed list); each covers the event types in `TYPES`."""

    RECORD_RECEIVED = "record_received"  # 收到业务报文
    FEEDBACK_RECEIVED = "feedback_received"  # 收到反馈
    STATE_CHANGED = "state_changed"  # 状态变化: our message delivered/answered, a record withdrawn, an obligation
    TODO_DUE = "todo_due"  # 待办即将到期/已逾期


#: The event types (the JSON's ``type``) of each kind.
TYPES: dict[WebhookKind, frozenset[str]] = {
    WebhookKind.RECORD_RECEIVED: frozenset({"record.received"}),
    WebhookKind.FEEDBACK_RECEIVED: frozenset({"feedback.received"}),
    WebhookKind.STATE_CHANGED: frozenset({"message.delivered", "message.answered", "record.withdrawn",
                                          "obligation.opened", "obligation.answered", "obligation.cancelled",
                                          "obligation.paused", "obligation.resumed"}),
    WebhookKind.TODO_DUE: frozenset({"todo.due_soon", "todo.overdue"}),
}


def kind_of(event_type: str) -> WebhookKind | None:
    return next((kind for kind, types in TYPES.items() if event_type in types), None)


class State(StrEnum):
    """A subscription's state: ``active`` delivers; ``paused`` stores and holds (delivered on resume, in order);
    ``disabled`` (410 Gone, or failing too long: `disabled_reason` says which) stores nothing new."""

    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class WebhookDeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt, or for the one before it
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: retried by hand only


class Outcome(StrEnum):
    """What one attempt came to."""

    DELIVERED = "delivered"
    RETRY = "retry"  # failed; tried again on the schedule
    FAILED = "failed"  # failed, and it was the last attempt of the schedule
    GONE = "gone"  # 410: the receiver wants no more; the subscription is disabled


#: Delays before each attempt after the first (the first is immediate): Standard Webhooks' example schedule.
SCHEDULE: tuple[timedelta, ...] = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                                   timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
#: Attempts in all before a delivery is failed.
ATTEMPTS = len(SCHEDULE) + 1
#: A delay is stretched by up to this fraction at random (so that many retries do not come back at once).
JITTER = 0.1
#: Secrets are this many random bytes (Standard Webhooks: at least 24).
SECRET_BYTES = 32


def answer(status: int | None, attempts_made: int) -> Outcome:
    """What an attempt answered with `status` (None: no answer in time, or no connection) comes to, the
    `attempts_made`-th attempt of its delivery."""
    if status is not None and 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    return Outcome.RETRY if attempts_made < ATTEMPTS else Outcome.FAILED


def next_attempt(attempts_made: int, now: datetime, jitter: float) -> datetime:
    """When the attempt after the `attempts_made`-th failed one is due; `jitter` in [0, 1) (random, given)."""
    delay = SCHEDULE[min(attempts_made, ATTEMPTS - 1) - 1]
    return now + delay * (1 + JITTER * jitter)


def gives_up(failing_since: datetime | None, now: datetime, disable_after: timedelta) -> bool:
    """An endpoint that has not had one success since `failing_since` is disabled after `disable_after`."""
    return failing_since is not None and now - failing_since >= disable_after


def url_problem(url: str, hosts: frozenset[str]) -> tuple[str, str] | None:
    """Why `url` cannot be a webhook endpoint (English, Chinese), or None. Only http(s) URLs to a host the operator
    allowed (`MPX_WEBHOOK_HOSTS`; ``*`` allows any), without credentials in them: the node posts to no address a
    caller chose freely (server-side request forgery)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a URL", "不是有效的网址"
    if parts.scheme not in ("http", "https") or not host:
        return "an http:// or https:// URL with a host is needed", "须为含主机名的 http:// 或 https:// 网址"
    if parts.username or parts.password:
        return "no user or password may be in the URL", "网址中不得包含用户名或密码"
    if "*" not in hosts and host.lower() not in hosts:
        return ("the host is not one this node may post to (MPX_WEBHOOK_HOSTS)",
                "该主机不在本节点允许推送的范围内 (MPX_WEBHOOK_HOSTS)")
    return None
