"""``client.agents``: agent definitions (API.md §2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml

from axon_client._http import HTTP, walk
from axon_client.errors import InvalidAgentDefinition, NotFound
from axon_client.models import Agent, AgentVersion, ApplyResult, ValidationResult

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def _path(agent: str) -> str:
    return f"/agents/{quote(agent, safe='')}"


class Agents:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    async def create(self, definition: dict[str, Any]) -> Agent:
        """Store a new agent (version 1)."""
        return Agent.model_validate(await self._http.json("POST", "/agents", json=definition))

    async def get(self, agent: str) -> Agent:
        """An agent (by id or name) with its current definition."""
        return Agent.model_validate(await self._http.json("GET", _path(agent)))

    async def list(self, *, q: str | None = None, page_size: int | None = None) -> AsyncIterator[Agent]:
        """Every agent you can see, newest first (walks the cursor)."""
        async for item in walk(self._http, "/agents", {"q": q}, page_size):
            yield Agent.model_validate(item)

    async def update(self, agent: str, definition: dict[str, Any]) -> Agent:
        """Replace the definition: a new version, unless it equals the current one."""
        return Agent.model_validate(await self._http.json("PUT", _path(agent), json=definition))

    async def delete(self, agent: str) -> None:
        await self._http.request("DELETE", _path(agent))

    async def versions(self, agent: str, *, page_size: int | None = None) -> AsyncIterator[AgentVersion]:
        """The agent's versions, newest first (``current`` marks the active one)."""
        async for item in walk(self._http, f"{_path(agent)}/versions", None, page_size):
            yield AgentVersion.model_validate(item)

    async def version(self, agent: str, n: int) -> AgentVersion:
        return AgentVersion.model_validate(await self._http.json("GET", f"{_path(agent)}/versions/{n}"))

    async def activate(self, agent: str, n: int) -> Agent:
        """Make version ``n`` current (rollback); runs started afterwards use it."""
        return Agent.model_validate(await self._http.json("POST", f"{_path(agent)}/versions/{n}/activate"))

    async def validate(self, definition: dict[str, Any]) -> ValidationResult:
        """Check a definition without storing it; an invalid one raises `InvalidAgentDefinition`."""
        return ValidationResult.model_validate(await self._http.json("POST", "/agents/validate", json=definition))

    async def apply(self, path: str | Path) -> list[ApplyResult]:
        """Create or update the agent of every .yaml/.yml/.json file in a folder (or one file), like
        ``axon agents apply``. Idempotent: applying the same files again changes nothing."""
        results: list[ApplyResult] = []
        outcome: Literal["created", "updated", "unchanged"]
        for file in definition_files(Path(path)):
            definition = read_definition(file)
            name = definition.get("name")
            if not isinstance(name, str):
                raise InvalidAgentDefinition(f"{file}: the definition has no name.")
            try:
                await self._http.request("GET", _path(name))
            except NotFound:
                agent, outcome = await self.create(definition), "created"
            else:
                response = await self._http.request("PUT", _path(name), json=definition)
                agent = Agent.model_validate(response.json())
                created = response.headers.get("X-Axon-Version-Created") == "true"
                outcome = "updated" if created else "unchanged"
            results.append(ApplyResult(file=str(file), name=agent.name, outcome=outcome, agent=agent))
        return results


def definition_files(path: Path) -> list[Path]:
    """``path`` itself, or the definition files directly inside a folder (sorted by name)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in DEFINITION_SUFFIXES and p.is_file())
    if not path.exists():
        raise FileNotFoundError(path)
    return [path]


def read_definition(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidAgentDefinition(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidAgentDefinition(f"{path}: a definition is a mapping.")
    return data  # pyright: ignore[reportUnknownVariableType]
