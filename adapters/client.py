"""The exchange's client for local case systems (mpx-client): `Client` (sync) and `AsyncClient` (async) over one
node's HTTP API.

What the node promises is kept on the caller's side too: every message gets its id before the first attempt, so a
request repeated after a timeout or a dropped connection carries the same ids and the node answers it as the repeat it
is (POST /v1/messages is idempotent by sending county and id, checked against the content hash). Only requests whose
repeat the node recognises are repeated; the others (a clarification request, a clarification, a verification step)
raise the transport error for the caller to look at the record first. A refusal is a `ProblemError` carrying the RFC
9457 body's code, status, Chinese and English texts and field errors. Paged listings (inbox, to-do list) are iterators
that follow the cursor.

The two clients share every request's shape (the `_Call` builders below) and differ only in how they wait, as httpx's
own Client and AsyncClient do.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

import httpx
from pydantic import BaseModel

from contracts import MessageType, validate_payload

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8101"
#: Transport failures after which the request may or may not have reached the node: repeated (same ids).
RETRIED = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: Answers that say "later": the node is not ready or its outbox is full (Retry-After), or the caller is too fast.
BUSY = (429, 503)
#: What one attempt ends with: the node's answer, or the transport's failure.
Outcome = httpx.Response | httpx.TransportError


class FieldError(TypedDict):
    """One field a refusal names: where (`data/person/id_number`), the code, English and Chinese."""

    field: str
    code: str
    message: str
    message_zh: str


class ProblemError(Exception):
    """The node refused a request (RFC 9457 problem JSON): `code` (e.g. `validation_failed`), `status`, the titles and
    details in Chinese and English, the field errors; `problem` is the whole body (extension members too)."""

    def __init__(self, status: int, problem: Mapping[str, Any]):
        self.status = status
        self.problem = dict(problem)
        kind = str(problem.get("type", ""))
        self.code = kind.rsplit(":", 1)[-1] if kind.startswith("urn:mpx:problem:") else f"http_{status}"
        self.title = str(problem.get("title", ""))
        self.title_zh = str(problem.get("title_zh", ""))
        self.detail = str(problem.get("detail", self.title))
        self.detail_zh = str(problem.get("detail_zh", self.title_zh))
        self.errors: list[FieldError] = list(problem.get("errors", []))
        super().__init__(f"{status} {self.code}: {self.detail_zh} / {self.detail}")


class Page(TypedDict, Generic[T]):
    """One page of a listing; `next_cursor` is where to come back for what follows (also when nothing did yet)."""

    items: list[T]
    next_cursor: str | None
    has_more: bool


class InboxItem(TypedDict):
    """A message received by the caller's counties (GET /v1/inbox): its envelope and its payload (`data`; as the
    contract's model: `payload(item)`)."""

    id: str
    direction: str
    type: str
    schema_version: str
    sender: str
    receiver: str
    state: str
    in_reply_to: str | None
    agreement_id: NotRequired[str | None]
    received_at: str
    published_at: NotRequired[str | None]
    delivered_at: NotRequired[str | None]
    answered_at: NotRequired[str | None]
    withdrawn_at: NotRequired[str | None]
    envelope: dict[str, Any]
    data: dict[str, Any]


class WorkItem(TypedDict, total=False):
    """One to-do item (待办, GET /v1/worklist): ids, codes, due time, status and next step; never a personal field."""

    kind: str
    kind_label: str
    status: str
    status_label: str
    due_at: str
    message_id: str
    record_id: str | None
    message_type: str
    sender: str
    receiver: str
    urgency: str | None
    received_at: str | None
    next: dict[str, str]


def message(type: MessageType | str, sender: str, receiver: str, data: BaseModel | Mapping[str, Any], *,  # noqa: A002
            id: str | None = None, in_reply_to: str | None = None,  # noqa: A002
            schema_version: str | None = None) -> dict[str, Any]:
    """A message to send, its payload a contract model (`contracts.OutflowRegistration(...)`) or its JSON. The id is
    chosen here when not given, so that every attempt carries it."""
    out: dict[str, Any] = {"id": id or str(uuid.uuid4()), "type": str(MessageType(type)), "sender": sender,
                           "receiver": receiver, "data": _json(data)}
    out.update({k: v for k, v in (("in_reply_to", in_reply_to),
                                  ("schema_version", schema_version)) if v is not None})
    return out


def payload(item: Mapping[str, Any]) -> BaseModel:
    """A received message's payload as its contract model (e.g. `contracts.OutflowRegistration`)."""
    return validate_payload(item["type"], item["schema_version"], item["data"])


def _json(data: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    return data.model_dump(mode="json", exclude_none=True) if isinstance(data, BaseModel) else dict(data)


def _with_id(item: Mapping[str, Any]) -> dict[str, Any]:
    """A message as posted: its id chosen now if missing (before the first attempt), its payload as JSON."""
    out = {**item, "data": _json(item["data"])} if "data" in item else dict(item)
    out.setdefault("id", str(uuid.uuid4()))
    return out


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request: what to send, whether a repeat is safe, and what of the answer to return."""

    method: str
    path: str
    read: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    repeatable: bool = True


def _params(**given: Any) -> dict[str, Any]:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in given.items() if v is not None}


def _sender(sender: str | None) -> dict[str, Any]:
    return _params(sender=sender)


def _send(item: Mapping[str, Any]) -> _Call[str]:
    return _Call("POST", "/v1/messages", lambda a: a["id"], json=_with_id(item))


def _send_batch(items: list[Mapping[str, Any]]) -> _Call[list[str]]:
    return _Call("POST", "/v1/messages/batch", lambda a: a["ids"], json={"messages": [_with_id(m) for m in items]})


def _answer(message_id: str, data: BaseModel | Mapping[str, Any], feedback_id: str | None,
            sender: str | None) -> _Call[str]:
    body = {"id": feedback_id or str(uuid.uuid4()), "data": _json(data)}
    return _Call("POST", f"/v1/messages/{message_id}/feedback", lambda a: a["id"], json=body, params=_sender(sender))


def _reply(message_id: str, what: str, data: BaseModel | Mapping[str, Any], sender: str | None,
           repeatable: bool) -> _Call[str]:
    return _Call("POST", f"/v1/messages/{message_id}/{what}", lambda a: a["id"], json={"data": _json(data)},
                 params=_sender(sender), repeatable=repeatable)


def _get(path: str, params: dict[str, Any]) -> _Call[Any]:
    return _Call("GET", path, lambda a: a, params=params)


def _inbox(county: str | None, type: MessageType | str | None, answered: bool | None,  # noqa: A002
           cursor: str | None, limit: int) -> _Call[Page[InboxItem]]:
    return _get("/v1/inbox", _params(county=county, type=type, answered=answered, cursor=cursor, limit=limit))


def _worklist(county: str | None, kind: str | None, status: str | None, urgency: str | None, cursor: str | None,
              limit: int) -> _Call[Page[WorkItem]]:
    return _get("/v1/worklist", _params(county=county, kind=kind, status=status, urgency=urgency, cursor=cursor,
                                        limit=limit))


def _answer_of(call: _Call[T], outcome: Outcome) -> T:
    """What the call returns of the node's answer; a refusal raised as ProblemError, a transport error as itself."""
    if isinstance(outcome, Exception):
        raise outcome
    response = outcome
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text}
        raise ProblemError(response.status_code, body if isinstance(body, dict) else {"detail": str(body)})
    return call.read(response.json())




class _Settings:
    """What both clients are made of: the node's address, the key, the attempts."""

    def __init__(self, api_key: str | None, retries: int, backoff: float):
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.retries = retries
        self.backoff = backoff

    def pause(self, call: _Call[Any], attempt: int, outcome: Outcome) -> float | None:
        """Seconds to wait before repeating `call` after this attempt's outcome (a busy answer, or a transport error
        when the call is repeatable); None: no repeat. The node's Retry-After if it gave one (at most a minute), else
        `backoff` doubling."""
        busy = isinstance(outcome, httpx.Response) and outcome.status_code in BUSY
        if attempt >= self.retries or not (busy or (call.repeatable and isinstance(outcome, RETRIED))):
            return None
        after = outcome.headers.get("retry-after", "") if isinstance(outcome, httpx.Response) else ""
        return min(float(after), 60.0) if after.isdigit() else self.backoff * 2 ** attempt


class Client(_Settings):
    """The sync client: `with Client(url, api_key=…) as node: node.send(message(...))`. `retries`: further attempts
    after a timeout, a dropped connection or a busy node (503/429), `backoff` seconds apart, doubling."""

    def __init__(self, base_url: str = DEFAULT_URL, *, api_key: str | None = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.5, transport: httpx.BaseTransport | None = None):
        super().__init__(api_key, retries, backoff)
        self.http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport, headers=self.headers)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _run(self, call: _Call[T]) -> T:
        for attempt in itertools.count():
            try:
                outcome: Outcome = self.http.request(call.method, call.path, json=call.json, params=call.params)
            except httpx.TransportError as exc:
                outcome = exc
            if (pause := self.pause(call, attempt, outcome)) is None:
                return _answer_of(call, outcome)
            time.sleep(pause)

    def send(self, item: Mapping[str, Any]) -> str:
        """Send one message (a dict, e.g. from `message(...)`); its id (the same when it was sent before)."""
        return self._run(_send(item))

    def send_batch(self, items: list[Mapping[str, Any]]) -> list[str]:
        """Send messages all or none (a refusal names the one at fault); their ids, in order."""
        return self._run(_send_batch(items))

    def answer(self, message_id: str, data: BaseModel | Mapping[str, Any], *, feedback_id: str | None = None,
               sender: str | None = None) -> str:
        """Feedback (反馈) on a record received; `sender`: the record's, only when two senders used its id."""
        return self._run(_answer(message_id, data, feedback_id, sender))

    def withdraw(self, message_id: str, data: BaseModel | Mapping[str, Any], *, sender: str | None = None) -> str:
        """Withdraw (撤回) a record sent, until it is answered; the withdrawal's id (the same on a repeat)."""
        return self._run(_reply(message_id, "withdrawal", data, sender, repeatable=True))

    def ask_clarification(self, message_id: str, data: BaseModel | Mapping[str, Any], *,
                          sender: str | None = None) -> str:
        """Ask the sender of a record received to clarify it (请求补充说明); the request's id. Not repeated."""
        return self._run(_reply(message_id, "clarification-request", data, sender, repeatable=False))

    def clarify(self, request_id: str, data: BaseModel | Mapping[str, Any], *, sender: str | None = None) -> str:
        """Answer a clarification request received (补充说明); the clarification's id. Not repeated."""
        return self._run(_reply(request_id, "clarification", data, sender, repeatable=False))

    def verification_step(self, request_id: str, data: BaseModel | Mapping[str, Any], *,
                          sender: str | None = None) -> str:
        """Report a step (协查进展) on a verification request received; the step's id. Not repeated."""
        return self._run(_reply(request_id, "verification-steps", data, sender, repeatable=False))

    def message(self, message_id: str, *, sender: str | None = None) -> dict[str, Any]:
        """One message sent or received, with its state (and a verification request's steps)."""
        return self._run(_get(f"/v1/messages/{message_id}", _sender(sender)))

    def inbox(self, *, county: str | None = None, type: MessageType | str | None = None,  # noqa: A002
              answered: bool | None = None, cursor: str | None = None, limit: int = 100) -> Page[InboxItem]:
        """One page of what the caller's counties received, oldest first, after `cursor`."""
        return self._run(_inbox(county, type, answered, cursor, limit))

    def inbox_pages(self, *, cursor: str | None = None, limit: int = 500, **filters: Any) -> Iterator[Page[InboxItem]]:
        """The inbox page by page from `cursor` to its end (each page's `next_cursor`: where to resume)."""
        return _pages(lambda after: self.inbox(cursor=after, limit=limit, **filters), cursor)

    def iter_inbox(self, **filters: Any) -> Iterator[InboxItem]:
        """Every inbox item matching the filters (county, type, answered), fetched a page at a time."""
        return (item for page in self.inbox_pages(**filters) for item in page["items"])

    def worklist(self, *, county: str | None = None, kind: str | None = None, status: str | None = None,
                 urgency: str | None = None, cursor: str | None = None, limit: int = 100) -> Page[WorkItem]:
        """One page of the to-do list (待办), soonest due first."""
        return self._run(_worklist(county, kind, status, urgency, cursor, limit))

    def iter_worklist(self, *, limit: int = 500, **filters: Any) -> Iterator[WorkItem]:
        """Every to-do item matching the filters (county, kind, status, urgency), a page at a time."""
        pages = _pages(lambda after: self.worklist(cursor=after, limit=limit, **filters), None)
        return (item for page in pages for item in page["items"])


def _pages(fetch: Callable[[str | None], Page[T]], cursor: str | None) -> Iterator[Page[T]]:
    while True:
        page = fetch(cursor)
        yield page
        if not page["has_more"]:
            return
        cursor = page["next_cursor"]


class AsyncClient(_Settings):
    """The async client: `async with AsyncClient(url, api_key=…) as node: await node.send(message(...))`; the same
    requests, attempts and answers as `Client`."""

    def __init__(self, base_url: str = DEFAULT_URL, *, api_key: str | None = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.5, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(api_key, retries, backoff)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport, headers=self.headers)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _run(self, call: _Call[T]) -> T:
        for attempt in itertools.count():
            try:
                outcome: Outcome = await self.http.request(call.method, call.path, json=call.json, params=call.params)
            except httpx.TransportError as exc:
                outcome = exc
            if (pause := self.pause(call, attempt, outcome)) is None:
                return _answer_of(call, outcome)
            await asyncio.sleep(pause)

    async def send(self, item: Mapping[str, Any]) -> str:
        """As `Client.send`."""
        return await self._run(_send(item))

    async def send_batch(self, items: list[Mapping[str, Any]]) -> list[str]:
        """As `Client.send_batch`."""
        return await self._run(_send_batch(items))

    async def answer(self, message_id: str, data: BaseModel | Mapping[str, Any], *, feedback_id: str | None = None,
                     sender: str | None = None) -> str:
        """As `Client.answer`."""
        return await self._run(_answer(message_id, data, feedback_id, sender))

    async def withdraw(self, message_id: str, data: BaseModel | Mapping[str, Any], *,
                       sender: str | None = None) -> str:
        """As `Client.withdraw`."""
        return await self._run(_reply(message_id, "withdrawal", data, sender, repeatable=True))

    async def ask_clarification(self, message_id: str, data: BaseModel | Mapping[str, Any], *,
                                sender: str | None = None) -> str:
        """As `Client.ask_clarification`."""
        return await self._run(_reply(message_id, "clarification-request", data, sender, repeatable=False))

    async def clarify(self, request_id: str, data: BaseModel | Mapping[str, Any], *, sender: str | None = None) -> str:
        """As `Client.clarify`."""
        return await self._run(_reply(request_id, "clarification", data, sender, repeatable=False))

    async def verification_step(self, request_id: str, data: BaseModel | Mapping[str, Any], *,
                                sender: str | None = None) -> str:
        """As `Client.verification_step`."""
        return await self._run(_reply(request_id, "verification-steps", data, sender, repeatable=False))

    async def message(self, message_id: str, *, sender: str | None = None) -> dict[str, Any]:
        """As `Client.message`."""
        return await self._run(_get(f"/v1/messages/{message_id}", _sender(sender)))

    async def inbox(self, *, county: str | None = None, type: MessageType | str | None = None,  # noqa: A002
                    answered: bool | None = None, cursor: str | None = None, limit: int = 100) -> Page[InboxItem]:
        """As `Client.inbox`."""
        return await self._run(_inbox(county, type, answered, cursor, limit))

    def inbox_pages(self, *, cursor: str | None = None, limit: int = 500,
                    **filters: Any) -> AsyncIterator[Page[InboxItem]]:
        """As `Client.inbox_pages`: `async for page in node.inbox_pages(county=…)`."""
        return _apages(lambda after: self.inbox(cursor=after, limit=limit, **filters), cursor)

    async def iter_inbox(self, **filters: Any) -> AsyncIterator[InboxItem]:
        """As `Client.iter_inbox`: `async for item in node.iter_inbox(answered=False)`."""
        async for page in self.inbox_pages(**filters):
            for item in page["items"]:
                yield item

    async def inbox_all(self, **filters: Any) -> list[InboxItem]:
        """Every inbox item matching the filters, as a list."""
        return [item async for item in self.iter_inbox(**filters)]

    async def worklist(self, *, county: str | None = None, kind: str | None = None, status: str | None = None,
                       urgency: str | None = None, cursor: str | None = None, limit: int = 100) -> Page[WorkItem]:
        """As `Client.worklist`."""
        return await self._run(_worklist(county, kind, status, urgency, cursor, limit))

    async def iter_worklist(self, *, limit: int = 500, **filters: Any) -> AsyncIterator[WorkItem]:
        """As `Client.iter_worklist`."""
        async for page in _apages(lambda after: self.worklist(cursor=after, limit=limit, **filters), None):
            for item in page["items"]:
                yield item


async def _apages(fetch: Callable[[str | None], Awaitable[Page[T]]], cursor: str | None) -> AsyncIterator[Page[T]]:
    while True:
        page = await fetch(cursor)
        yield page
        if not page["has_more"]:
            return
        cursor = page["next_cursor"]


__all__ = ["AsyncClient", "Client", "FieldError", "InboxItem", "Page", "ProblemError", "WorkItem", "message", "payload"]
