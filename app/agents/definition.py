"""The agent definition: a strict superset of pydantic-ai 2.68's ``AgentSpec`` (API.md §2).

:func:`validate_definition` turns a raw definition into an :class:`AgentDefinition` or raises
:class:`InvalidAgentDefinition` listing *every* problem as ``{"path": "$.tools[1].parameters",
"message": "..."}`` in ``details.errors``. :func:`stored_form` and :func:`spec_hash` give the
normalised JSON that is stored and hashed.

Normalisation: compatibility aliases of the original Axon payload are rewritten
(``system_prompt`` → ``instructions``, ``result_type`` → ``output_schema``, ``result_retries`` →
``retries.output``, an integer ``retries`` → ``{"tools": n, "output": n}``), ADM tool parameters
become JSON Schema, capabilities take their short form, defaults and ``$schema`` are dropped.
``scope`` is accepted in the body but belongs to the agent, not the definition: it is neither
stored in the definition nor part of ``spec_hash``.
"""

import hashlib
import json
import uuid
from collections.abc import Collection
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import ErrorDetails

from app.agents import capabilities, templates
from app.agents.schema_checks import Problem, check_schema, json_path
from app.config import Settings
from app.errors import InvalidAgentDefinition
from app.llm.resolve import check_model_ref
from app.tools.schemas import AgentTool, McpTool, ToolDeclaration, WebhookTool

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

AgentName = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="A slug, unique per owner: lowercase letters, digits, `-` and `_`, at most 63 characters.",
    ),
]
OutputMode = Literal["tool", "native", "prompted"]
Scope = Literal["private", "shared"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettingsSpec(_Strict):
    """pydantic-ai ``ModelSettings`` keys a definition may set. ``extra_headers``/``extra_body`` are refused:
    a definition must not smuggle credentials or endpoints."""

    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    request_timeout: float | None = Field(default=None, gt=0)
    first_event_timeout: float | None = Field(default=None, gt=0)
    framing_announcement: Literal["always", "when_needed", "never"] | None = None
    max_retries: int | None = Field(default=None, ge=0, le=10)
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["none", "required", "auto"] | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    stop_sequences: list[str] | None = None
    thinking: bool | Literal["minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    citations: bool | None = None
    cache: bool | Literal["5m", "30m", "1h", "12h"] | None = None
    service_tier: Literal["auto", "default", "flex", "priority"] | None = None


class RetriesSpec(_Strict):
    """pydantic-ai ``AgentRetries``; unset means pydantic-ai's default (1)."""

    tools: int | None = Field(default=None, ge=0, le=20)
    output: int | None = Field(default=None, ge=0, le=20)


class UsageLimitsSpec(_Strict):
    """Caps for every run of this agent; a run request may tighten them, never loosen them."""

    request_limit: int | None = Field(default=None, ge=1)
    tool_calls_limit: int | None = Field(default=None, ge=0)
    input_tokens_limit: int | None = Field(default=None, ge=0)
    output_tokens_limit: int | None = Field(default=None, ge=0)
    total_tokens_limit: int | None = Field(default=None, ge=0)


class AgentDefinition(_Strict):
    """A normalised agent definition (API.md §2)."""

    json_schema_path: str | None = Field(default=None, alias="$schema", exclude=True)
    """Accepted (pydantic-ai spec files carry it), never stored."""
    name: AgentName
    description: str | None = Field(default=None, max_length=4096)
    model: str = Field(description="`provider:model` (e.g. `openai-chat:gpt-4o-mini`), `endpoint:model` or `test`.")
    fallback_models: list[str] = Field(
        default_factory=list[str], description="Model references tried in order when the model's API fails."
    )
    instructions: str | list[str] | None = Field(
        default=None, description="One string or a list, sent in order; `{{var}}` renders from the run's `deps`."
    )
    deps_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the run's `deps`; templates may only use variables it declares."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (draft 2020-12, an object) of the structured output; plain text without."
    )
    output_mode: OutputMode = Field(
        default="tool", description="How structured output is requested: an output tool, native JSON mode or a prompt."
    )
    model_settings: ModelSettingsSpec | None = None
    retries: RetriesSpec | None = None
    end_strategy: Literal["early", "graceful", "exhaustive"] = "graceful"
    tool_timeout: float | None = Field(
        default=None, gt=0, le=3600, description="Seconds before a tool call is retried."
    )
    metadata: dict[str, Any] | None = None
    capabilities: list[str | dict[str, Any]] = Field(
        default_factory=list[str | dict[str, Any]],
        description="Allowlisted pydantic-ai capabilities: " + ", ".join(sorted(capabilities.ALLOWED)) + ".",
    )
    tools: list[ToolDeclaration] = Field(default_factory=list[ToolDeclaration])
    usage_limits: UsageLimitsSpec | None = None
    scope: Scope | None = Field(
        default=None, exclude=True, description="`private` (default) or `shared`; a property of the agent, not hashed."
    )

    @field_validator("instructions", mode="before")
    @classmethod
    def _instructions_shape(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in cast(list[Any], value)):
            return cast(list[str], value)
        raise ValueError("must be a string or a list of strings")

    def instruction_parts(self) -> list[str]:
        if self.instructions is None:
            return []
        return [self.instructions] if isinstance(self.instructions, str) else list(self.instructions)

    def model_refs(self) -> list[str]:
        return [self.model, *self.fallback_models]


_TOOL = TypeAdapter[ToolDeclaration](ToolDeclaration)
_TOOL_TYPES = "builtin, external, webhook, agent, mcp"

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
}
_FORBIDDEN_SETTINGS = {
    "extra_headers": "extra_headers is not allowed: definitions cannot carry headers (credentials belong on the server)",
    "extra_body": "extra_body is not allowed: definitions cannot carry raw request bodies",
}


# --- compatibility with the original Axon payload -------------------------------------------------

_SHORTHAND_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def _is_json_schema(value: dict[str, Any]) -> bool:
    return any(key in value for key in ("type", "properties", "$ref", "anyOf", "oneOf", "allOf", "$defs", "enum"))


def _shorthand_to_schema(fields: dict[str, Any], base: str, problems: list[Problem]) -> dict[str, Any]:
    """``{"field": "string"}`` / ``{"field": {"type": "string"}}`` → an object schema requiring every field."""
    properties: dict[str, Any] = {}
    for name, spec in fields.items():
        if isinstance(spec, str) and spec in _SHORTHAND_TYPES:
            properties[name] = {"type": spec}
        elif isinstance(spec, dict):
            properties[name] = spec
        else:
            problems.append(
                {
                    "path": json_path(base, [name]),
                    "message": f"must be a JSON type name ({', '.join(sorted(_SHORTHAND_TYPES))}) or a schema",
                }
            )
    return {"type": "object", "properties": properties, "required": list(properties)}


def _apply_compat(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    data = dict(raw)
    if "system_prompt" in data:
        system_prompt = data.pop("system_prompt")
        if "instructions" in data:
            problems.append(
                {"path": "$.system_prompt", "message": "give either system_prompt or instructions, not both"}
            )
        else:
            data["instructions"] = system_prompt
    if "result_type" in data:
        result_type = data.pop("result_type")
        if "output_schema" in data:
            problems.append({"path": "$.result_type", "message": "give either result_type or output_schema, not both"})
        elif isinstance(result_type, dict) and not _is_json_schema(cast(dict[str, Any], result_type)):
            data["output_schema"] = _shorthand_to_schema(cast(dict[str, Any], result_type), "$.result_type", problems)
        else:
            data["output_schema"] = result_type
    retries = data.get("retries")
    if isinstance(retries, int) and not isinstance(retries, bool):
        data["retries"] = {"tools": retries, "output": retries}
    if "result_retries" in data:
        result_retries = data.pop("result_retries")
        current = data.get("retries")
        if current is None:
            data["retries"] = {"output": result_retries}
        elif isinstance(current, dict):
            data["retries"] = {**cast(dict[str, Any], current), "output": result_retries}
    return data


# --- pydantic errors → JSON paths -------------------------------------------------------------------


def _problem_from(error: ErrorDetails, base: str, data: Any) -> Problem:
    """Walk the input along ``loc``; skip union tags and type names pydantic inserts into it."""
    loc = list(error["loc"])
    parts: list[str | int] = []
    current: Any = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(part, int):
            parts.append(part)
            current = (
                cast(list[Any], current)[part]
                if isinstance(current, list) and part < len(cast(list[Any], current))
                else None
            )
        elif isinstance(current, dict) and part in current:
            parts.append(part)
            current = cast(dict[str, Any], current)[part]
        elif last and isinstance(current, dict):
            parts.append(part)
    path = json_path(base, parts)
    kind = error["type"]
    message = _MESSAGES.get(kind) or error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden" and parts and parts[-1] in _FORBIDDEN_SETTINGS and "model_settings" in parts:
        message = _FORBIDDEN_SETTINGS[str(parts[-1])]
    elif kind == "extra_forbidden":
        message = f"unknown key {parts[-1]!r}" if parts else message
    elif kind == "union_tag_invalid":
        given = cast(dict[str, Any], current).get("type") if isinstance(current, dict) else None
        path, message = f"{path}.type", f"unknown tool type {given!r}; one of {_TOOL_TYPES}"
    elif kind == "union_tag_not_found":
        path, message = f"{path}.type", f"is required: one of {_TOOL_TYPES}"
    elif kind == "string_pattern_mismatch" and parts and parts[-1] == "name":
        message = (
            "must be a slug: lowercase letters, digits, '-' and '_', at most 63 characters"
            if base == "$" and len(parts) == 1
            else "must be a valid identifier: letters, digits and '_', not starting with a digit, at most 64 characters"
        )
    return {"path": path, "message": message}


def _pydantic_problems(exc: ValidationError, base: str, data: Any, skip: Collection[str] = ()) -> list[Problem]:
    return [
        _problem_from(error, base, data)
        for error in exc.errors(include_url=False, include_input=False)
        if not (error["loc"] and error["loc"][0] in skip)
    ]


# --- the pieces ----------------------------------------------------------------------------------------


def _check_tools(
    raw_tools: Any, settings: Settings, builtin_names: Collection[str] | None, problems: list[Problem]
) -> list[Any]:
    if raw_tools is None:
        return []
    if not isinstance(raw_tools, list):
        problems.append({"path": "$.tools", "message": "must be a list of tool declarations"})
        return []
    from app.tools.webhook import check_webhook_url

    tools: list[Any] = []
    seen: dict[str, int] = {}
    for index, raw_tool in enumerate(cast(list[Any], raw_tools)):
        base = f"$.tools[{index}]"
        try:
            tool = _TOOL.validate_python(raw_tool)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, base, raw_tool))
            continue
        except NotImplementedError:
            problems.append({"path": f"{base}.parameters", "message": "ALTAR ADM schemas are not supported yet"})
            continue
        tools.append(tool)
        if tool.name in seen:
            problems.append(
                {
                    "path": f"{base}.name",
                    "message": f"duplicate tool name {tool.name!r} (also $.tools[{seen[tool.name]}])",
                }
            )
        seen.setdefault(tool.name, index)
        if hasattr(tool, "parameters"):
            problems.extend(check_schema(cast(dict[str, Any], tool.parameters), f"{base}.parameters", settings))  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
        if isinstance(tool, WebhookTool | McpTool) and not tool.url.lower().startswith(("http://", "https://")):
            problems.append({"path": f"{base}.url", "message": "must be an http(s) URL"})
        elif isinstance(tool, WebhookTool) and (refused := check_webhook_url(tool.url, settings)):
            problems.append({"path": f"{base}.url", "message": refused})
        if tool.type == "builtin" and builtin_names is not None and tool.name not in builtin_names:
            problems.append({"path": f"{base}.name", "message": f"no builtin tool {tool.name!r} (see GET /tools)"})
        if isinstance(tool, AgentTool) and not tool.agent:
            problems.append({"path": f"{base}.agent", "message": "is required"})
    return tools


def _check_capabilities(raw: Any, problems: list[Problem]) -> list[str | dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append({"path": "$.capabilities", "message": "must be a list"})
        return []
    normalised: list[str | dict[str, Any]] = []
    for index, item in enumerate(cast(list[Any], raw)):
        try:
            normalised.append(capabilities.normalise(item))
        except capabilities.CapabilityProblem as exc:
            problems.append({"path": f"$.capabilities[{index}]{exc.path_suffix}", "message": exc.message})
    return normalised


def _check_models(
    data: dict[str, Any], endpoints: Collection[str], problems: list[Problem], warnings: list[Problem]
) -> None:
    refs: list[tuple[str, Any]] = [("$.model", data.get("model"))]
    fallbacks = data.get("fallback_models")
    if isinstance(fallbacks, list):
        refs.extend((f"$.fallback_models[{i}]", ref) for i, ref in enumerate(cast(list[Any], fallbacks)))
    for path, ref in refs:
        if not isinstance(ref, str):
            continue  # the structural pass reports it
        error, warning = check_model_ref(ref, endpoints)
        if error:
            problems.append({"path": path, "message": error})
        if warning:
            warnings.append({"path": path, "message": warning})


def _check_templates(data: dict[str, Any], problems: list[Problem]) -> None:
    instructions = data.get("instructions")
    parts: list[tuple[str, Any]]
    if isinstance(instructions, list):
        parts = [(f"$.instructions[{i}]", text) for i, text in enumerate(cast(list[Any], instructions))]
    else:
        parts = [("$.instructions", instructions)]
    deps_schema = data.get("deps_schema")
    for path, text in parts:
        if not isinstance(text, str):
            continue
        try:
            used = list(templates.placeholders(text))
        except templates.TemplateSyntaxError as exc:
            problems.append({"path": path, "message": str(exc)})
            continue
        if not isinstance(deps_schema, dict):
            continue
        for variable in used:
            if missing := templates.undeclared(variable, cast(dict[str, Any], deps_schema)):
                problems.append(
                    {"path": path, "message": f"template variable {missing!r} is not declared in deps_schema"}
                )


def _check_name(data: dict[str, Any], problems: list[Problem]) -> None:
    name = data.get("name")
    if isinstance(name, str):
        try:
            uuid.UUID(name)
        except ValueError:
            return
        problems.append({"path": "$.name", "message": "must not look like a UUID (agents are addressed by id or name)"})


def validate_definition(
    raw: Any,
    settings: Settings,
    endpoints: Collection[str],
    *,
    builtin_names: Collection[str] | None = None,
) -> tuple[AgentDefinition, list[Problem]]:
    """Validate and normalise a definition: ``(definition, warnings)``.

    ``endpoints`` are the names of the configured model endpoints; ``builtin_names`` the tool
    registry's names (None skips that check). Raises :class:`InvalidAgentDefinition` with
    ``details={"errors": [{"path", "message"}, ...]}`` listing every problem found.
    """
    if not isinstance(raw, dict):
        raise InvalidAgentDefinition(
            "Agent definition is invalid.", details={"errors": [{"path": "$", "message": "must be a JSON object"}]}
        )
    problems: list[Problem] = []
    warnings: list[Problem] = []
    data = _apply_compat(cast(dict[str, Any], raw), problems)
    tools = _check_tools(data.get("tools"), settings, builtin_names, problems)
    caps = _check_capabilities(data.get("capabilities"), problems)
    _check_name(data, problems)
    _check_models(data, endpoints, problems, warnings)
    _check_templates(data, problems)
    for key in ("output_schema", "deps_schema"):
        if data.get(key) is not None:
            problems.extend(check_schema(data[key], f"$.{key}", settings))
    definition: AgentDefinition | None = None
    try:
        definition = AgentDefinition.model_validate({**data, "tools": [], "capabilities": []})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, "$", data, skip=("tools", "capabilities")))
    if problems or definition is None:
        raise InvalidAgentDefinition(
            f"Agent definition is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}).",
            details={"errors": _dedupe(problems)},
        )
    return definition.model_copy(update={"tools": tools, "capabilities": caps}), warnings


def _dedupe(problems: list[Problem]) -> list[Problem]:
    unique: list[Problem] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def stored_form(definition: AgentDefinition) -> dict[str, Any]:
    """The normalised JSON stored in a version (defaults dropped, ``scope`` and ``$schema`` left out)."""
    return definition.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace, UTF-8) of a stored definition."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def load_stored(document: dict[str, Any]) -> AgentDefinition:
    """A stored (already normalised) definition back as a model; no re-validation of references."""
    return AgentDefinition.model_validate(document)
