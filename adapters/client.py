"""A typed async client for one node's HTTP API, for local case systems, the simulator and the tests."""

from __future__ import annotations

from typing import Any

import httpx


class ProblemError(Exception):
    """The node refused a request; `problem` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]):
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class NodeClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport, headers=headers)

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, url, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text}
            raise ProblemError(response.status_code, body)
        return response.json()

    async def send(self, message: dict[str, Any]) -> str:
        return (await self._call("POST", "/v1/messages", json=message))["id"]

    async def send_batch(self, messages: list[dict[str, Any]]) -> list[str]:
        return (await self._call("POST", "/v1/messages/batch", json={"messages": messages}))["ids"]

    async def answer(self, message_id: str, data: dict[str, Any], *, feedback_id: str | None = None,
                     sender: str | None = None) -> str:
        """`sender`: the county that sent the message, needed only when two senders used the same id."""
        body: dict[str, Any] = {"data": data}
        if feedback_id:
            body["id"] = feedback_id
        params = {"sender": sender} if sender else None
        return (await self._call("POST", f"/v1/messages/{message_id}/feedback", json=body, params=params))["id"]

    async def withdraw(self, message_id: str, data: dict[str, Any], *, sender: str | None = None) -> str:
        """Withdraw (撤回) a record the caller's county sent, until it is answered; the withdrawal's id (the same
        on a second call). `sender`: as for `answer`."""
        params = {"sender": sender} if sender else None
        return (await self._call("POST", f"/v1/messages/{message_id}/withdrawal", json={"data": data},
                                 params=params))["id"]

    async def ask_clarification(self, message_id: str, data: dict[str, Any], *, sender: str | None = None) -> str:
        """Ask (请求补充说明) the sender of a record the caller's county received to clarify it, before its deadline;
        the request's id. `sender`: as for `answer`."""
        params = {"sender": sender} if sender else None
        return (await self._call("POST", f"/v1/messages/{message_id}/clarification-request", json={"data": data},
                                 params=params))["id"]

    async def verification_step(self, request_id: str, data: dict[str, Any], *, sender: str | None = None) -> str:
        """Report a step (协查进展: matched, verified, answered, in order) on a verification request the caller's
        county received; the step's id."""
        params = {"sender": sender} if sender else None
        return (await self._call("POST", f"/v1/messages/{request_id}/verification-steps", json={"data": data},
                                 params=params))["id"]

    async def clarify(self, request_id: str, data: dict[str, Any], *, sender: str | None = None) -> str:
        """Answer (补充说明) a clarification request the caller's county received; the clarification's id."""
        params = {"sender": sender} if sender else None
        return (await self._call("POST", f"/v1/messages/{request_id}/clarification", json={"data": data},
                                 params=params))["id"]

    async def message(self, message_id: str, *, sender: str | None = None) -> dict[str, Any]:
        """`sender`: as for `answer`."""
        return await self._call("GET", f"/v1/messages/{message_id}", params={"sender": sender} if sender else None)

    async def inbox(self, **params: Any) -> dict[str, Any]:
        query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
        return await self._call("GET", "/v1/inbox", params=query)

    async def inbox_all(self, **params: Any) -> list[dict[str, Any]]:
        """Every inbox item matching the filters, following the cursor."""
        return await _every(self.inbox, params)

    async def worklist(self, **params: Any) -> dict[str, Any]:
        """A page of the caller's counties' to-do list (待办), soonest due first."""
        return await self._call("GET", "/v1/worklist", params={k: v for k, v in params.items() if v is not None})

    async def worklist_all(self, **params: Any) -> list[dict[str, Any]]:
        """Every to-do item matching the filters, following the cursor."""
        return await _every(self.worklist, params)

    async def ready(self) -> dict[str, Any]:
        response = await self.http.get("/readyz")
        return response.json()


async def _every(page: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a paged listing (`page`: one of the client's listing methods), following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await page(cursor=cursor, limit=500, **params)
        items += answer["items"]
        cursor = answer["next_cursor"]
        if not answer["has_more"]:
            return items
