"""Builtin and plugin tools: the `@axon_tool` decorator and the registry loaded at startup.

A tool is a plain Python function, sync or async. The decorator introspects its signature and
docstring (Google, NumPy or Sphinx style) into a name, a description and a JSON Schema of its
parameters (ALTAR LATER §2.1): types map through pydantic, a parameter without a default is
required, and an optional first parameter annotated ``ToolContext`` (``RunContext[RunDeps]``)
receives the run's context. Plugins publish tools through the ``axon.tools`` entry-point group;
an entry point may name a decorated function, a list of them or a module holding them.

Agent definitions reference these tools by name only, so nothing in a definition can import or
execute code.
"""

import asyncio
import inspect
import logging
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, TypeAlias, overload

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_ai import RunContext

from app.config import Settings
from app.runtime import RunDeps

logger = logging.getLogger("axon.tools")

ENTRY_POINT_GROUP = "axon.tools"

ToolContext: TypeAlias = RunContext[RunDeps]
"""Annotate a tool's first parameter with this to receive the run's context (`ctx.deps` is `RunDeps`)."""

_DROPPED_KEYWORDS = frozenset({"title", "default"})


@dataclass(frozen=True)
class ToolFunction:
    """A function turned into a tool: what the model sees and how to call it."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema (draft 2020-12) of the arguments."""
    function: Callable[..., Any]
    takes_ctx: bool
    args_model: type[BaseModel]
    """Coerces JSON arguments into the function's declared Python types."""

    async def invoke(self, ctx: ToolContext | None, args: dict[str, Any]) -> Any:
        """Coerce ``args`` and call the function; a sync function runs in a worker thread."""
        values = dict(self.args_model.model_validate(args))
        if self.takes_ctx:
            if ctx is None:
                raise ToolNeedsRun(f"Tool {self.name!r} needs a run's context and can only be called by an agent.")
            positional: tuple[Any, ...] = (ctx,)
        else:
            positional = ()
        if inspect.iscoroutinefunction(self.function):
            return await self.function(*positional, **values)
        return await asyncio.to_thread(self.function, *positional, **values)


class ToolNeedsRun(Exception):
    """A context-taking tool was invoked outside a run (the LATER executor)."""


@overload
def axon_tool(function: Callable[..., Any], /) -> ToolFunction: ...
@overload
def axon_tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], ToolFunction]: ...
def axon_tool(
    function: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None
) -> ToolFunction | Callable[[Callable[..., Any]], ToolFunction]:
    """Turn a function into a tool: ``@axon_tool`` or ``@axon_tool(name=..., description=...)``."""
    if function is not None:
        return introspect(function)

    def decorate(fn: Callable[..., Any]) -> ToolFunction:
        return introspect(fn, name=name, description=description)

    return decorate


def introspect(
    function: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> ToolFunction:
    """Build a `ToolFunction` from a function's signature, type hints and docstring."""
    tool_name = name or function.__name__
    hints = typing.get_type_hints(function, include_extras=True)
    params = list(inspect.signature(function).parameters.values())
    takes_ctx = bool(params) and _is_run_context(hints.get(params[0].name))
    if takes_ctx:
        params = params[1:]
    doc = docstring_parser.parse(inspect.getdoc(function) or "")
    param_docs = {p.arg_name: p.description for p in doc.params if p.description}
    fields: dict[str, Any] = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"Tool {tool_name!r}: parameter {param.name!r} must be passable by keyword.")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), Field(default, description=param_docs.get(param.name)))
    args_model = create_model(f"{tool_name}_args", __config__=ConfigDict(extra="ignore"), **fields)
    summary = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    return ToolFunction(
        name=tool_name,
        description=description or summary or tool_name,
        parameters=clean_schema(args_model.model_json_schema()),
        function=function,
        takes_ctx=takes_ctx,
        args_model=args_model,
    )


def _is_run_context(annotation: Any) -> bool:
    return annotation is RunContext or typing.get_origin(annotation) is RunContext


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's schema made plain: local ``$defs`` inlined, titles and defaults dropped, ``X | None`` as a type list."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in typing.cast(list[Any], node)]
        if not isinstance(node, dict):
            return node
        node = typing.cast(dict[str, Any], node)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] not in seen and ref[8:] in defs:
            merged = {**defs[ref[8:]], **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, (*seen, ref[8:]))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$defs" or key in _DROPPED_KEYWORDS:
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: walk(v, seen) for k, v in typing.cast(dict[str, Any], value).items()}
            else:
                out[key] = walk(value, seen)
        return _collapse_optional(out)

    cleaned: dict[str, Any] = walk(schema, ())
    return cleaned


def _collapse_optional(node: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [{"type": T, ...}, {"type": "null"}]}`` -> ``{"type": [T, "null"], ...}``."""
    variants = node.get("anyOf")
    if not isinstance(variants, list) or len(typing.cast(list[Any], variants)) != 2:
        return node
    pair = typing.cast(list[Any], variants)
    nulls = [v for v in pair if v == {"type": "null"}]
    others = [v for v in pair if v != {"type": "null"}]
    if len(nulls) != 1 or len(others) != 1 or not isinstance(others[0], dict):
        return node
    other = typing.cast(dict[str, Any], others[0])
    if not isinstance(other.get("type"), str):
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    merged = {**other, **rest, "type": [other["type"], "null"]}
    if "enum" in merged and None not in merged["enum"]:
        merged["enum"] = [*merged["enum"], None]
    return merged


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
        from app.tools.builtin import builtin_tools

        return cls([*builtin_tools(settings), *discover_plugins()])

    def get(self, name: str) -> ToolFunction | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def all(self) -> list[ToolFunction]:
        return sorted(self._tools.values(), key=lambda tool: tool.name)


@cache
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
