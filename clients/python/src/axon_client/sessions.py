"""``client.sessions``: server-owned conversation history (API.md §3.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from axon_client._http import HTTP, walk
from axon_client.models import Session, SessionMessages


def _path(session_id: str) -> str:
    return f"/sessions/{quote(session_id, safe='')}"


class Sessions:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    async def create(
        self, agent: str, *, tools: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Session:
        """A session for ``agent``; ``tools`` limits which of the agent's tools its runs may use."""
        body: dict[str, Any] = {"agent": agent}
        if tools is not None:
            body["tools"] = list(tools)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return Session.model_validate(await self._http.json("POST", "/sessions", json=body))

    async def get(self, session_id: str) -> Session:
        return Session.model_validate(await self._http.json("GET", _path(session_id)))

    async def list(self, *, agent: str | None = None, page_size: int | None = None) -> AsyncIterator[Session]:
        async for item in walk(self._http, "/sessions", {"agent": agent}, page_size):
            yield Session.model_validate(item)

    async def delete(self, session_id: str) -> None:
        await self._http.request("DELETE", _path(session_id))

    async def messages(self, session_id: str) -> SessionMessages:
        """The stored history (pydantic-ai message JSON)."""
        return SessionMessages.model_validate(await self._http.json("GET", f"{_path(session_id)}/messages"))

    async def fork(
        self, session_id: str, *, at: int | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Session:
        """A new session with the first ``at`` messages (all of them when ``at`` is None)."""
        body: dict[str, Any] = {}
        if at is not None:
            body["at"] = at
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return Session.model_validate(await self._http.json("POST", f"{_path(session_id)}/fork", json=body))
