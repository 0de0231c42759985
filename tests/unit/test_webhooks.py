"""Webhook push rules (exchange/domain/webhooks.py), without a database: the retry schedule, what an answer means,
when an endpoint is given up, which URLs may be subscribed; that the `standardwebhooks` library signs as its
published test vector says; and which to-do items are announced, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from exchange.adapters.sql.webhook_outbox import event_id
from exchange.domain.events import CountyNotice
from exchange.domain.webhooks import (
    ATTEMPTS,
    JITTER,
    SCHEDULE,
    Outcome,
    WebhookKind,
    answer,
    gives_up,
    kind_of,
    next_attempt,
    url_problem,
)
from exchange.service.webhook_todos import DueAnnouncer
from tests.unit.fakes import FakeUnitOfWork

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
HOSTS = frozenset({"127.0.0.1", "cases.haishu.example"})


def test_the_schedule_is_immediately_then_5s_5min_30min_2h_5h_10h_10h_then_failed():
    assert ATTEMPTS == 8
    assert [next_attempt(n, NOW, 0) - NOW for n in range(1, ATTEMPTS)] == [
        timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
        timedelta(hours=10), timedelta(hours=10)]
    assert [answer(500, n) for n in range(1, ATTEMPTS + 1)] == [Outcome.RETRY] * 7 + [Outcome.FAILED]


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_jitter_only_ever_delays_and_by_at_most_a_tenth(jitter: float):
    for n, delay in enumerate(SCHEDULE, start=1):
        waited = next_attempt(n, NOW, jitter) - NOW
        assert delay <= waited <= delay * (1 + JITTER)


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (299, Outcome.DELIVERED), (301, Outcome.RETRY),
    (404, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (None, Outcome.RETRY), (410, Outcome.GONE)])
def test_only_a_2xx_succeeds_and_410_stops(status: int | None, outcome: Outcome):
    assert answer(status, 1) == outcome


def test_an_endpoint_failing_too_long_is_given_up_and_one_that_never_failed_never():
    week = timedelta(days=5)
    assert not gives_up(None, NOW, week)
    assert not gives_up(NOW - week + timedelta(seconds=1), NOW, week)
    assert gives_up(NOW - week, NOW, week)


def test_every_event_type_belongs_to_one_kind():
    assert kind_of("record.received") is WebhookKind.RECORD_RECEIVED
    assert kind_of("obligation.opened") is WebhookKind.STATE_CHANGED
    assert kind_of("todo.overdue") is WebhookKind.TODO_DUE
    assert kind_of("something.else") is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://cases.haishu.example/webhooks?x=1"])
def test_http_urls_on_allowed_hosts_may_be_subscribed(url: str):
    assert url_problem(url, HOSTS) is None


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http:///nohost", "http://10.0.0.1/x",
                                 "http://user:secret@127.0.0.1/x", "http://127.0.0.1:99999/x", "not a url"])
def test_other_urls_are_refused_in_both_languages(url: str):
    problem = url_problem(url, HOSTS)
    assert problem is not None and all(problem)


def test_any_host_when_the_operator_says_star():
    assert url_problem("https://anywhere.example/x", frozenset({"*"})) is None
    assert url_problem("https://anywhere.example/x", frozenset()) is not None


def test_signatures_match_the_libraries_published_test_vector():
    """The vector of the Standard Webhooks libraries' own tests: the library signs as the specification says."""
    signer = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC),
                         '{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class _Worklist:
    """The to-do list as the announcer asks it: one page per status."""

    def __init__(self, items: dict[str, list[dict]]):
        self.items, self.asked = items, []

    async def page(self, *, status, **ask) -> dict:  # noqa: ANN001,ANN003
        self.asked.append((status.value, ask["counties"]))
        return {"items": self.items.get(status.value, [])}


def _item(kind: str, message_id: str, due_at: str) -> dict:
    return {"kind": kind, "message_id": message_id, "sender": "621227", "receiver": "330203", "county": "330203",
            "due_at": due_at, "status": "overdue"}


async def test_items_due_today_and_overdue_are_announced_with_a_key_per_status_and_due_time():

    uow = FakeUnitOfWork()
    worklist = _Worklist({"due_today": [_item("feedback", "r1", "2026-12-06T00:00:00+08:00")],
                          "overdue": [_item("clarification", "q1", "2026-12-04T00:00:00+08:00"),
                                      _item("webhook_failed", "msg_1", "2026-12-05T00:00:00+08:00")]})
    announcer = DueAnnouncer(lambda: uow, worklist, ["330203"], limit=50, clock=lambda: NOW)
    assert await announcer.announce() == 2
    assert worklist.asked == [("due_today", ["330203"]), ("overdue", ["330203"])]
    assert [(n.type, n.message_id, n.key) for n in uow.events if isinstance(n, CountyNotice)] == [
        ("todo.due_soon", "r1", "todo.due_soon|feedback|621227|r1|2026-12-06T00:00:00+08:00"),
        ("todo.overdue", "q1", "todo.overdue|clarification|621227|q1|2026-12-04T00:00:00+08:00")]
    # A failed webhook is not pushed to the webhooks again (it would loop to an endpoint that is failing).
    assert all(n.message_id != "msg_1" for n in uow.events)


def test_a_keyed_notice_has_one_webhook_id_and_others_each_their_own():

    keyed = CountyNotice("330203", "todo.overdue", key="todo.overdue|feedback|621227|r1|…")
    assert event_id(keyed) == event_id(keyed) and event_id(keyed).startswith("msg_")
    plain = CountyNotice("330203", "record.received", "621227", "330203", "r1")
    assert event_id(plain) != event_id(plain)
    assert "." not in event_id(keyed)  # Standard Webhooks: the id must hold no full stop (it is signed id.ts.body)
