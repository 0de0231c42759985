"""Posting one webhook over HTTP (httpx): the answer's status, or why there was none. Redirects are not followed
(Standard Webhooks: a 3xx is a failure; the subscription's URL should be updated instead)."""

from __future__ import annotations

import httpx


class HttpPoster:
    def __init__(self, timeout: float):
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """(status, None) when the receiver answered within the timeout; (None, the error's name) otherwise. The
        error never carries the payload."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, f"no answer within {self.timeout:g} s (timeout)"
        except httpx.HTTPError as error:
            return None, type(error).__name__
        return response.status_code, None if response.is_success else f"HTTP {response.status_code}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
