"""The pydantic-ai capabilities a definition may use, and only those.

Allowed: ``Thinking``, ``ReinjectSystemPrompt``, ``RaiseContentFilterError``,
``IncludeToolReturnSchemas``, ``Caching``, ``Citations`` — each only adjusts model settings,
prompts or error handling. Refused: everything that runs code, touches the filesystem or
reaches hosts the operator did not allowlist (``WebFetch``, ``WebSearch``, ``MCP``,
``LocalWorkspace``, ``Instrumentation``, ``Toolset``, ``ImageGeneration``, ``XSearch``,
``NativeTool``, ``ModelFallback`` — use ``fallback_models`` — and the rest of pydantic-ai's registry).

A capability is written as in an ``AgentSpec``: ``"Name"``, ``{"Name": single_arg}`` or
``{"Name": {kwargs}}``. It is stored in that short form with defaults dropped.
"""

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_ai._spec import CapabilitySpec  # pyright: ignore[reportPrivateUsage]
from pydantic_ai.capabilities import (
    AbstractCapability,
    Caching,
    Citations,
    IncludeToolReturnSchemas,
    RaiseContentFilterError,
    ReinjectSystemPrompt,
    Thinking,
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ThinkingArgs(_Args):
    effort: bool | Literal["minimal", "low", "medium", "high", "xhigh", "max"] = True


class _ReinjectArgs(_Args):
    replace_existing: bool = False


class _IncludeSchemasArgs(_Args):
    tools: Literal["all"] | list[str] = "all"


class _CachingArgs(_Args):
    retention: bool | Literal["5m", "30m", "1h", "12h"] = True
    messages: bool = True


ALLOWED: dict[str, tuple[type[AbstractCapability[Any]], type[_Args], str | None]] = {
    "Thinking": (Thinking, _ThinkingArgs, "effort"),
    "ReinjectSystemPrompt": (ReinjectSystemPrompt, _ReinjectArgs, "replace_existing"),
    "RaiseContentFilterError": (RaiseContentFilterError, _Args, None),
    "IncludeToolReturnSchemas": (IncludeToolReturnSchemas, _IncludeSchemasArgs, "tools"),
    "Caching": (Caching, _CachingArgs, "retention"),
    "Citations": (Citations, _Args, None),
}
"""Name → (class, argument model, the argument a single positional value fills)."""


class CapabilityProblem(ValueError):
    """``path_suffix`` is appended to the capability's JSON path."""

    def __init__(self, message: str, path_suffix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path_suffix = path_suffix


def normalise(raw: Any) -> str | dict[str, Any]:
    """The stored short form of one capability; raises :class:`CapabilityProblem`."""
    try:
        spec = CapabilitySpec.model_validate(raw)
    except ValidationError as exc:
        raise CapabilityProblem('must be "Name", {"Name": argument} or {"Name": {arguments}}') from exc
    entry = ALLOWED.get(spec.name)
    if entry is None:
        raise CapabilityProblem(f"capability {spec.name!r} is not allowed; allowed: {', '.join(sorted(ALLOWED))}")
    _, args_model, positional = entry
    kwargs = dict(spec.kwargs)
    if spec.args:
        if positional is None:
            raise CapabilityProblem(f"capability {spec.name!r} takes no arguments", f".{spec.name}")
        kwargs = {positional: spec.args[0]}
    try:
        args = args_model.model_validate(kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f".{part}" for part in first["loc"][:1])
        raise CapabilityProblem(first["msg"], f".{spec.name}{where}") from exc
    dumped = args.model_dump(mode="json", exclude_defaults=True)
    return {spec.name: dumped} if dumped else spec.name


def instantiate(stored: str | dict[str, Any]) -> AbstractCapability[Any]:
    """Build one normalised capability."""
    if isinstance(stored, str):
        name, kwargs = stored, {}
    else:
        name, value = next(iter(stored.items()))
        kwargs = cast(dict[str, Any], value)
    cls, _, _ = ALLOWED[name]
    return cls(**kwargs)
