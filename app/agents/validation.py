"""Definition validation: a raw definition → an `AgentDefinition`, or every problem at once.

:func:`validate_definition` raises :class:`InvalidAgentDefinition` listing *every* problem as
``{"path": "$.tools[1].parameters", "message": "..."}`` in ``details.errors``; each path names the
field that is wrong. Normalisation: compatibility aliases are rewritten (`app.agents.compat`), ADM
tool parameters become JSON Schema, capabilities take their short form, defaults and ``$schema``
are dropped.
"""

import uuid
from collections.abc import Collection
from typing import Any, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.agents import capabilities, templates
from app.agents.compat import apply_compat
from app.agents.definition import AgentDefinition
from app.agents.schema_checks import Problem, check_schema, json_path
from app.config import Settings
from app.errors import InvalidAgentDefinition
from app.llm.resolve import check_model_ref
from app.tools.schemas import TOOL_TYPES, AgentTool, ToolDeclaration, WebhookTool
from app.tools.webhook import check_webhook_url

_TOOL_TYPE_NAMES = ", ".join(TOOL_TYPES)
UNSUPPORTED_TOOL_TYPES = {"mcp": "MCP tools are not supported yet"}
"""Declared in the contract, refused when a definition is written until the service can run them."""

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
}
_FORBIDDEN_SETTINGS = {
    "extra_headers": "extra_headers is not allowed: definitions cannot carry headers (credentials belong on the server)",
    "extra_body": "extra_body is not allowed: definitions cannot carry raw request bodies",
}


# --- pydantic errors → JSON paths -------------------------------------------------------------------


def _problem_from(error: ErrorDetails, base: str, data: Any) -> Problem:
    """Walk the input along ``loc``, keeping the keys the input really has (and a missing last one)."""
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
    tools: list[Any] = []
    seen: dict[str, int] = {}
    for index, raw_tool in enumerate(cast(list[Any], raw_tools)):
        base = f"$.tools[{index}]"
        model = _tool_model(raw_tool, base, problems)
        if model is None:
            continue
        try:
            tool = model.model_validate(raw_tool)
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
        if isinstance(tool, WebhookTool) and not tool.url.lower().startswith(("http://", "https://")):
            problems.append({"path": f"{base}.url", "message": "must be an http(s) URL"})
        elif isinstance(tool, WebhookTool) and (refused := check_webhook_url(tool.url, settings)):
            problems.append({"path": f"{base}.url", "message": refused})
        if tool.type == "builtin" and builtin_names is not None and tool.name not in builtin_names:
            problems.append({"path": f"{base}.name", "message": f"no builtin tool {tool.name!r} (see GET /tools)"})
        if isinstance(tool, AgentTool) and not tool.agent:
            problems.append({"path": f"{base}.agent", "message": "is required"})
    return tools


def _tool_model(raw_tool: Any, base: str, problems: list[Problem]) -> type[ToolDeclaration] | None:
    """The model a declaration's ``type`` names, or None with the problem recorded."""
    if not isinstance(raw_tool, dict):
        problems.append({"path": base, "message": "must be an object (a tool declaration)"})
        return None
    kind = cast(dict[str, Any], raw_tool).get("type")
    if kind is None:
        problems.append({"path": f"{base}.type", "message": f"is required: one of {_TOOL_TYPE_NAMES}"})
    elif not isinstance(kind, str) or kind not in TOOL_TYPES:
        problems.append({"path": f"{base}.type", "message": f"unknown tool type {kind!r}; one of {_TOOL_TYPE_NAMES}"})
    elif kind in UNSUPPORTED_TOOL_TYPES:
        problems.append({"path": f"{base}.type", "message": UNSUPPORTED_TOOL_TYPES[kind]})
    else:
        return TOOL_TYPES[kind]
    return None


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
    data = apply_compat(cast(dict[str, Any], raw), problems)
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
