"""The one place requests are sent: authentication, error envelopes → exceptions, and retries."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx

from axon_client.errors import APIConnectionError, AxonError, from_response

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3


def new_idempotency_key() -> str:
    return f"axon-client-{uuid.uuid4().hex}"


class HTTP:
    """An ``httpx.AsyncClient`` with Axon's rules.

    Retries happen only for an error envelope with ``retryable: true`` that is not the end of a run
    (no ``run_id``: a repeat with the same ``Idempotency-Key`` would answer the same failed run) and for
    connection failures. A request that may have reached the server is only retried when repeating it
    is safe: a GET/PUT/DELETE, or a POST carrying an ``Idempotency-Key``. Waits honour ``Retry-After``,
    otherwise back off exponentially with jitter.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        token: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        credential = api_key or token
        all_headers = {"User-Agent": "axon-client-python/0.1", **(headers or {})}
        if credential:
            all_headers["Authorization"] = f"Bearer {credential}"
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._owns_client = http_client is None
        self.client = http_client or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        if not str(self.client.base_url):
            self.client.base_url = base_url.rstrip("/")
        self.client.headers.update(all_headers)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def delay(self, attempt: int, error: AxonError | None) -> float:
        """Seconds to wait before retry number ``attempt`` (from 0)."""
        if error is not None and error.retry_after is not None:
            return error.retry_after
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return base * (0.5 + random.random() / 2)

    def should_retry(self, attempt: int, error: AxonError) -> bool:
        if attempt >= self.max_retries or not error.retryable:
            return False
        if error.run_id is not None and not isinstance(error, APIConnectionError):
            return False
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        http_timeout: float | httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send with retries; a 2xx answer, or the typed exception of the last failure."""
        async with self.stream(
            method, path, json=json, params=params, headers=headers, http_timeout=http_timeout
        ) as response:
            await response.aread()
            return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        http_timeout: float | httpx.Timeout | None = None,
    ) -> AsyncGenerator[httpx.Response]:
        """Open a response (retrying until it is a 2xx) and hand it over unread."""
        repeatable = method != "POST" or bool(headers and "Idempotency-Key" in headers)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            request = self.client.build_request(
                method,
                path,
                json=json,
                params=query,
                headers=headers,
                timeout=http_timeout if http_timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            error: AxonError
            try:
                response = await self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                error = connection_error(exc)
                error.retryable = repeatable or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            else:
                if response.is_success:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                try:
                    body = await response.aread()
                except httpx.TransportError as exc:
                    error = connection_error(exc)
                    error.retryable = repeatable
                else:
                    error = from_response(response, body)
                finally:
                    await response.aclose()
            if not self.should_retry(attempt, error):
                raise error
            await asyncio.sleep(self.delay(attempt, error))
            attempt += 1

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return response.json() if response.content else None


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    return APIConnectionError(f"{type(exc).__name__}: {exc}", retryable=True)


async def walk(
    http: HTTP, path: str, params: Mapping[str, Any] | None = None, page_size: int | None = None
) -> AsyncIterator[Any]:
    """Every item of a cursor-paginated list, page after page (each item exactly once, newest first)."""
    query: dict[str, Any] = {**(params or {}), "limit": page_size}
    while True:
        page = await http.json("GET", path, params=query)
        for item in page["items"]:
            yield item
        if not page.get("next_cursor"):
            return
        query["cursor"] = page["next_cursor"]
