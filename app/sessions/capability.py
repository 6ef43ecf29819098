"""The session-scoped tool registry: a run on a session sees only the session's tools."""

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.tools import ToolDefinition


@dataclass
class SessionTools(AbstractCapability[Any]):
    """Hides every function tool not named in ``allowed`` from the model (output tools stay).

    Added per run. It registers no toolset and no durable operation, so it is also safe inside a
    durable (DBOS) workflow, where per-run capabilities must declare that.
    """

    allowed: Collection[str] = field(default_factory=frozenset[str])
    _safe_at_runtime: ClassVar[bool] = True

    async def prepare_tools(self, ctx: RunContext[Any], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        return [tool for tool in tool_defs if tool.name in self.allowed]
