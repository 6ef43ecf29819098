"""``client.tools``: the service's built-in and plugin tools as an executor (API.md §5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from axon_client._http import HTTP
from axon_client.models import ToolList, ToolResult


class Tools:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    async def list(self, *, format: Literal["jsonschema", "adm"] = "jsonschema") -> ToolList:
        return ToolList.model_validate(await self._http.json("GET", "/tools", params={"format": format}))

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> ToolResult:
        """Run one tool; a tool that fails answers ``status="ERROR"`` (not an exception)."""
        path = f"/tools/{quote(name, safe='')}/execute"
        return ToolResult.model_validate(await self._http.json("POST", path, json={"args": dict(args or {})}))
