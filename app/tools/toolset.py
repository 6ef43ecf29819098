"""Tool declarations of a definition -> a pydantic-ai toolset the agent builder adds.

Every declared tool, whatever its type, is validated against its JSON Schema (draft 2020-12)
before anything happens to the call: a violation goes back to the model as a retry naming the
errors, and when the tool's retries are exhausted pydantic-ai raises
``UnexpectedModelBehavior("Tool 'x' exceeded max retries count of N ...")``.

- ``builtin``: a registry tool, run in-process (sync functions in a worker thread).
- ``external``: the call is validated, then deferred: the run ends ``requires_action`` with it
  under ``DeferredToolRequests.calls`` (pydantic-ai's own ``ExternalToolset`` does not validate).
  ``requires_approval`` is implied for external tools: the caller executes (or refuses) the call.
- ``webhook``: POSTed to an allowlisted URL (see `app.tools.webhook`).
- ``agent``: delegated to another stored agent through ``RunServices.run_subagent``.
- ``requires_approval``: the validated call is deferred under ``DeferredToolRequests.approvals``.

A webhook or agent tool that fails reaches the model as a retry with the reason; if the tool has
no retries left the run fails with `app.errors.ToolError` raised from the tool (not wrapped).
"""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic_ai import ModelRetry, RunContext
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, ToolsetTool
from pydantic_core import SchemaValidator, core_schema

from app.config import Settings
from app.errors import AppError, InvalidAgentDefinition, NotFound, ToolError
from app.runtime import RunDeps
from app.tools.outbound import Resolver, system_resolver
from app.tools.registry import ToolRegistry
from app.tools.schemas import (
    AgentTool,
    BuiltinTool,
    ExternalTool,
    McpTool,
    ToolDeclaration,
    WebhookTool,
)
from app.tools.webhook import WebhookCall, WebhookFailed, call_webhook

AGENT_TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The message for the delegated agent."}},
    "required": ["input"],
}
MAX_REPORTED_ERRORS = 10

ToolHandler = Callable[[RunContext[RunDeps], dict[str, Any]], Awaitable[Any]]
_ARGS_VALIDATOR = SchemaValidator(core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema()))


@dataclass(frozen=True)
class DeclaredTool:
    definition: ToolDefinition
    validator: Draft202012Validator
    handler: ToolHandler | None
    """None for external tools: their calls are always deferred to the caller."""


def schema_errors(validator: Draft202012Validator, args: Any) -> list[str]:
    """Human-readable JSON Schema violations, ``path: message``, in document order."""
    errors: list[ValidationError] = list(validator.iter_errors(args))  # pyright: ignore[reportUnknownMemberType]
    errors.sort(key=lambda e: [str(part) for part in e.absolute_path])
    return [f"{_path(e)}: {e.message}" for e in errors[:MAX_REPORTED_ERRORS]]


def _path(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(root)"


class DeclaredToolset(AbstractToolset[RunDeps]):
    """The tools of one agent definition, each validated against its JSON Schema."""

    def __init__(self, tools: Sequence[DeclaredTool], *, id: str = "axon-declared-tools") -> None:
        self._tools = {tool.definition.name: tool for tool in tools}
        self._id = id

    @property
    def id(self) -> str | None:
        return self._id

    @property
    def tool_names(self) -> list[str]:
        return list(self._tools)

    async def get_tools(self, ctx: RunContext[RunDeps]) -> dict[str, ToolsetTool[RunDeps]]:
        return {
            name: ToolsetTool(
                toolset=self,
                tool_def=tool.definition,
                max_retries=ctx.max_retries,
                args_validator=_ARGS_VALIDATOR,
                args_validator_func=self._validator_for(tool),
            )
            for name, tool in self._tools.items()
        }

    @staticmethod
    def _validator_for(tool: DeclaredTool) -> Callable[..., None]:
        def validate(ctx: RunContext[RunDeps], **args: Any) -> None:
            problems = schema_errors(tool.validator, args)
            if problems:
                raise ModelRetry(
                    f"Arguments for tool {tool.definition.name!r} do not match its schema: " + "; ".join(problems)
                )

        return validate

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[RunDeps], tool: ToolsetTool[RunDeps]
    ) -> Any:
        handler = self._tools[name].handler
        if handler is None:
            raise RuntimeError(f"external tool {name!r} cannot be called in-process")
        return await handler(ctx, tool_args)


def build_toolsets(
    tools: Sequence[ToolDeclaration],
    settings: Settings,
    *,
    registry: ToolRegistry | None = None,
    resolver: Resolver = system_resolver,
) -> list[AbstractToolset[RunDeps]]:
    """The toolsets for a definition's ``tools``; unknown builtins are `InvalidAgentDefinition`.

    ``registry`` defaults to the builtins plus installed plugins (`ToolRegistry.load`); the app
    keeps one in ``app.state.tool_registry``. ``resolver`` is the DNS seam for webhook calls.
    """
    if not tools:
        return []
    registry = registry or ToolRegistry.load(settings)
    declared = [_declare(tool, settings, registry, resolver) for tool in tools]
    return [DeclaredToolset(declared)]


def _declare(tool: ToolDeclaration, settings: Settings, registry: ToolRegistry, resolver: Resolver) -> DeclaredTool:
    handler: ToolHandler | None
    match tool:
        case BuiltinTool():
            registered = registry.get(tool.name)
            if registered is None:
                raise InvalidAgentDefinition(f"Unknown builtin tool {tool.name!r}.", details={"tool": tool.name})
            description, parameters = tool.description or registered.description, registered.parameters
            handler = registered.invoke
        case ExternalTool():
            description, parameters, handler = tool.description, tool.parameters, None
        case WebhookTool():
            description, parameters, handler = (
                tool.description,
                tool.parameters,
                _webhook_handler(tool, settings, resolver),
            )
        case AgentTool():
            description = tool.description or f"Ask the agent {tool.agent!r}."
            parameters, handler = AGENT_TOOL_PARAMETERS, _agent_handler(tool, settings)
        case McpTool():
            raise InvalidAgentDefinition("MCP tools are not supported yet.", details={"tool": tool.name})
    kind = "external" if handler is None else "unapproved" if tool.requires_approval else "function"
    definition = ToolDefinition(name=tool.name, description=description, parameters_json_schema=parameters, kind=kind)
    validator = Draft202012Validator(parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return DeclaredTool(definition=definition, validator=validator, handler=handler)


def tool_failure(ctx: RunContext[RunDeps], tool_name: str, message: str) -> Exception:
    """A retry the model sees while the tool has retries left, then `ToolError` that ends the run."""
    if ctx.retry < ctx.max_retries:
        return ModelRetry(f"Tool {tool_name!r} failed: {message}")
    return ToolError(
        f"Tool {tool_name!r} failed after {ctx.retry + 1} attempt(s): {message}",
        details={"tool_name": tool_name, "tool_call_id": ctx.tool_call_id},
    )


def _webhook_handler(tool: WebhookTool, settings: Settings, resolver: Resolver) -> ToolHandler:
    async def handle(ctx: RunContext[RunDeps], args: dict[str, Any]) -> Any:
        call = WebhookCall(
            tool_call_id=ctx.tool_call_id or "",
            tool_name=tool.name,
            args=args,
            run_id=ctx.deps.run_id,
            agent=ctx.deps.agent_name,
        )
        client = ctx.deps.services.webhook_client
        try:
            return await call_webhook(
                client, settings, tool.url, call, timeout_seconds=tool.timeout_seconds, resolver=resolver
            )
        except WebhookFailed as exc:
            raise tool_failure(ctx, tool.name, str(exc)) from None

    return handle


def check_delegation(parent: RunDeps, target_agent_id: uuid.UUID, settings: Settings) -> None:
    """Refuse a sub-run that would loop back to an agent already in the chain, or go too deep.

    `build_toolsets` checks the depth before delegating; ``run_subagent`` should call this once
    it has resolved the target agent's id.
    """
    if target_agent_id == parent.agent_id or target_agent_id in parent.lineage:
        raise ToolError(
            "Agent tool cycle: the delegated agent is already running in this chain.",
            details={"agent_id": str(target_agent_id), "lineage": [str(a) for a in parent.lineage]},
        )
    _check_depth(parent, settings)


def _check_depth(parent: RunDeps, settings: Settings) -> None:
    depth = max(len(parent.lineage) - 1, 0) + 1
    if depth > settings.max_agent_tool_depth:
        raise ToolError(
            f"Agent tools may nest at most {settings.max_agent_tool_depth} levels deep.",
            details={"max_agent_tool_depth": settings.max_agent_tool_depth},
        )


def _agent_handler(tool: AgentTool, settings: Settings) -> ToolHandler:
    async def handle(ctx: RunContext[RunDeps], args: dict[str, Any]) -> Any:
        parent = ctx.deps
        if tool.agent in (parent.agent_name, str(parent.agent_id)):
            raise ToolError(f"Agent tool {tool.name!r} delegates to its own agent.", details={"tool_name": tool.name})
        _check_depth(parent, settings)
        try:
            result = await parent.services.run_subagent(parent, tool.agent, str(args["input"]))
        except (ToolError, NotFound) as exc:
            raise ToolError(f"Agent tool {tool.name!r}: {exc.message}", details={"tool_name": tool.name}) from None
        except AppError as exc:
            raise tool_failure(ctx, tool.name, f"{exc.error_type}: {exc.message}") from None
        ctx.usage.incr(result.usage)
        return result.output

    return handle


def caller_toolset(tools: Sequence[ExternalTool]) -> DeclaredToolset:
    """Tools a caller declares for one run (a protocol door's function tools): external, validated like any."""
    declared = [
        DeclaredTool(
            definition=ToolDefinition(
                name=tool.name, description=tool.description, parameters_json_schema=tool.parameters, kind="external"
            ),
            validator=Draft202012Validator(tool.parameters, format_checker=Draft202012Validator.FORMAT_CHECKER),
            handler=None,
        )
        for tool in tools
    ]
    return DeclaredToolset(declared, id="axon-caller-tools")
