"""A Python function as a tool: the `@axon_tool` decorator and the introspection behind it.

The decorator reads a function's signature and docstring (Google, NumPy or Sphinx style) into a
name, a description and a JSON Schema of its parameters (ALTAR LATER §2.1): types map through
pydantic, a parameter without a default is required, and an optional first parameter annotated
``ToolContext`` (``RunContext[RunDeps]``) receives the run's context.
"""

import asyncio
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, overload

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_ai import RunContext

from app.runtime import RunDeps

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
