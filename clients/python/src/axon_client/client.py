"""`AxonClient`: the async client."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import httpx

from axon_client._http import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, HTTP
from axon_client.agents import Agents
from axon_client.model_endpoints import ModelEndpoints
from axon_client.runs import Runs
from axon_client.sessions import Sessions
from axon_client.tools import Tools


class AxonClient:
    """An Axon service at ``base_url``, authenticated with an API key (``axk_…``) or a JWT ``token``.

    Use it as an async context manager (or call `aclose`). ``timeout`` bounds each request (a sync
    run's read timeout follows its ``deadline_ms``; streams have none); ``max_retries`` bounds
    automatic retries of retryable errors and connection failures.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = HTTP(
            base_url,
            api_key=api_key,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            http_client=http_client,
        )
        self.agents = Agents(self._http)
        self.runs = Runs(self._http)
        self.sessions = Sessions(self._http)
        self.tools = Tools(self._http)
        self.model_endpoints = ModelEndpoints(self._http)

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient`` (for routes this client does not wrap yet)."""
        return self._http.client

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AxonClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
