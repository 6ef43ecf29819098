"""The global tool registry loaded at startup: builtins plus every installed plugin's tools.

Plugins publish tools through the ``axon.tools`` entry-point group; an entry point may name a
decorated function (`app.tools.functions.axon_tool`), a list of them or a module holding them.
Agent definitions reference these tools by name only, so nothing in a definition can import or
execute code.
"""

import logging
import typing
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from app.config import Settings
from app.tools.builtin import builtin_tools
from app.tools.functions import ToolContext, ToolFunction, axon_tool

__all__ = ["ToolContext", "ToolRegistry", "axon_tool", "discover_plugins"]
"""``ToolContext`` and ``axon_tool`` stay importable from here: plugins written before
`app.tools.functions` existed import them from this module."""

logger = logging.getLogger("axon.tools")

ENTRY_POINT_GROUP = "axon.tools"


class ToolRegistry:
    """The global tool registry (LATER §2.2.1): builtins plus every installed plugin's tools."""

    def __init__(self, tools: Iterable[ToolFunction]) -> None:
        self._tools: dict[str, ToolFunction] = {}
        for tool in tools:
            if tool.name in self._tools:
                logger.warning("tool %r registered twice; keeping the first", tool.name)
                continue
            self._tools[tool.name] = tool

    @classmethod
    def load(cls, settings: Settings) -> "ToolRegistry":
        """Builtins configured by ``settings``, then the plugins' tools (builtins win a name clash)."""
        return cls([*builtin_tools(settings), *discover_plugins()])

    def get(self, name: str) -> ToolFunction | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def all(self) -> list[ToolFunction]:
        return sorted(self._tools.values(), key=lambda tool: tool.name)


@cache
def discover_plugins() -> tuple[ToolFunction, ...]:
    """Load every ``axon.tools`` entry point once per process; a broken plugin is logged and skipped."""
    found: list[ToolFunction] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.extend(_tools_in(entry_point.load()))
        except Exception:
            logger.exception("could not load tool plugin %r", entry_point.value)
    return tuple(found)


def _tools_in(obj: object) -> list[ToolFunction]:
    if isinstance(obj, ToolFunction):
        return [obj]
    if isinstance(obj, ModuleType):
        return [value for value in vars(obj).values() if isinstance(value, ToolFunction)]
    if isinstance(obj, Sequence | set | frozenset):
        return [item for item in typing.cast(Iterable[Any], obj) if isinstance(item, ToolFunction)]
    raise TypeError(f"entry point object {obj!r} is not a tool, a module or a list of tools")
