"""Tool listings in JSON Schema or ADM form, and the ALTAR LATER executor (`POST /tools/{name}/execute`)."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError
from pydantic_ai import ModelRetry
from pydantic_ai.exceptions import ToolFailed
from pydantic_core import to_jsonable_python

from app.errors import InvalidRequest
from app.tools import adm
from app.tools.functions import ToolFunction, ToolNeedsRun
from app.tools.registry import ToolRegistry
from app.tools.schemas import (
    EMPTY_OBJECT_SCHEMA,
    AgentTool,
    BuiltinTool,
    ExternalTool,
    McpTool,
    ToolDeclaration,
    ToolFormat,
    ToolInfo,
    ToolList,
    ToolResult,
    ToolResultError,
    WebhookTool,
)
from app.tools.toolset import AGENT_TOOL_PARAMETERS, schema_errors

logger = logging.getLogger("axon.tools")

EXECUTE_TIMEOUT_SECONDS = 30.0
MAX_ERROR_MESSAGE_CHARS = 1000


class AdmExportUnsupported(InvalidRequest):
    """A schema uses JSON Schema constructs ALTAR ADM cannot express."""


def list_registry_tools(registry: ToolRegistry, fmt: ToolFormat) -> ToolList:
    infos = [
        ToolInfo(name=t.name, type="builtin", description=t.description, parameters=t.parameters)
        for t in registry.all()
    ]
    return _in_format(infos, fmt)


def list_declared_tools(tools: Sequence[ToolDeclaration], registry: ToolRegistry, fmt: ToolFormat) -> ToolList:
    """An agent's declared tools; builtin ones take their schema (and default description) from the registry."""
    infos: list[ToolInfo] = []
    for tool in tools:
        description = tool.description
        parameters: dict[str, Any] = dict(EMPTY_OBJECT_SCHEMA)
        match tool:
            case BuiltinTool():
                registered = registry.get(tool.name)
                if registered is not None:
                    parameters, description = registered.parameters, description or registered.description
            case AgentTool():
                parameters = AGENT_TOOL_PARAMETERS
            case ExternalTool() | WebhookTool():
                parameters = tool.parameters
            case McpTool():
                pass
        infos.append(
            ToolInfo(
                name=tool.name,
                type=tool.type,
                description=description,
                parameters=parameters,
                requires_approval=tool.requires_approval,
            )
        )
    return _in_format(infos, fmt)


def _in_format(infos: list[ToolInfo], fmt: ToolFormat) -> ToolList:
    if fmt == "jsonschema":
        return ToolList(format=fmt, tools=infos)
    problems: dict[str, list[str]] = {}
    converted: list[ToolInfo] = []
    for info in infos:
        try:
            converted.append(info.model_copy(update={"parameters": adm.json_schema_to_adm(info.parameters)}))
        except adm.UnsupportedSchema as exc:
            problems[info.name] = exc.problems
    if problems:
        raise AdmExportUnsupported(
            "Some tool schemas use constructs ALTAR ADM cannot express; use ?format=jsonschema.",
            errors=[
                {"loc": ["query", "format"], "msg": f"tool {name!r}: {'; '.join(found)}"}
                for name, found in problems.items()
            ],
            details={"unsupported": problems},
        )
    return ToolList(format=fmt, tools=converted)


async def execute(tool: ToolFunction, args: dict[str, Any]) -> ToolResult:
    """Validate ``args`` against the tool's schema, run it, and wrap the outcome as a LATER ToolResult."""
    problems = schema_errors(Draft202012Validator(tool.parameters), args)
    if problems:
        return _error(tool, "Invalid arguments: " + "; ".join(problems))
    try:
        async with asyncio.timeout(EXECUTE_TIMEOUT_SECONDS):
            content = await tool.invoke(None, args)
    except (ModelRetry, ToolFailed) as exc:
        return _error(tool, exc.message)
    except ToolNeedsRun as exc:
        return _error(tool, str(exc))
    except ValidationError as exc:
        return _error(tool, f"Invalid arguments: {exc.error_count()} validation error(s).")
    except TimeoutError:
        return _error(tool, f"Tool timed out after {EXECUTE_TIMEOUT_SECONDS:g}s.")
    except Exception as exc:
        logger.warning("tool %r raised %s", tool.name, type(exc).__name__)
        return _error(tool, f"{type(exc).__name__}: {exc}")
    return ToolResult(name=tool.name, status="SUCCESS", content=to_jsonable_python(content, fallback=str))


def _error(tool: ToolFunction, message: str) -> ToolResult:
    return ToolResult(name=tool.name, status="ERROR", error=ToolResultError(message=message[:MAX_ERROR_MESSAGE_CHARS]))
