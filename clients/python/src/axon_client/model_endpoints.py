"""``client.model_endpoints`` (admin): OpenAI-compatible endpoints definitions may name as ``name:model``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from axon_client._http import HTTP, walk
from axon_client.models import ModelEndpoint


def _path(name: str) -> str:
    return f"/model-endpoints/{quote(name, safe='')}"


class ModelEndpoints:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    async def create(self, name: str, base_url: str, *, api_key: str | None = None) -> ModelEndpoint:
        """Add an endpoint; ``api_key`` is write-only (never returned, see ``has_api_key``)."""
        body: dict[str, Any] = {"name": name, "base_url": base_url, "api_key": api_key}
        return ModelEndpoint.model_validate(await self._http.json("POST", "/model-endpoints", json=body))

    async def get(self, name: str) -> ModelEndpoint:
        return ModelEndpoint.model_validate(await self._http.json("GET", _path(name)))

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[ModelEndpoint]:
        async for item in walk(self._http, "/model-endpoints", None, page_size):
            yield ModelEndpoint.model_validate(item)

    async def update(self, name: str, base_url: str, *, api_key: str | None = None) -> ModelEndpoint:
        body: dict[str, Any] = {"name": name, "base_url": base_url, "api_key": api_key}
        return ModelEndpoint.model_validate(await self._http.json("PUT", _path(name), json=body))

    async def delete(self, name: str) -> None:
        await self._http.request("DELETE", _path(name))
