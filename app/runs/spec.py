"""`RunSpec`: everything one run's execution needs, resolved before its task starts.

Every run — sync, streamed, background, resumed, delegated by an `agent` tool, or picked up again
by another process — is first a stored `Run` row; `spec_of` is the one builder that turns that
row (plus its agent version and owner) into the spec the executor runs. The request parsers here
are shared by admission and by that builder, so a stored run is read back exactly as it was admitted.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_ai import DeferredToolResults, ModelRetry, ToolApproved, ToolDenied
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, UserContent
from pydantic_ai.settings import ModelSettings
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import UsageLimits

from app.agents.models import AgentVersion
from app.auth.service import Principal
from app.runs.errors import InvalidRunRequest
from app.runs.models import Run, RunExtras, UsageLimitsIn
from app.runs.schemas import AgentRef, Deferred, ResumeRequest
from app.runtime import RunDeps
from app.sessions.capability import SessionTools
from app.tools.schemas import ExternalTool
from app.tools.toolset import caller_toolset

DEFAULT_REQUEST_LIMIT = 50
REFUSED_MODEL_SETTINGS = frozenset({"extra_headers", "extra_body"})
ALLOWED_MODEL_SETTINGS = frozenset(ModelSettings.__annotations__) - REFUSED_MODEL_SETTINGS
_USER_CONTENT = TypeAdapter(UserContent)
_ACCEPTED_PART_KINDS = frozenset({"binary"})


@dataclass
class RunSpec:
    """Everything one run needs, resolved and validated before its task starts."""

    run_id: uuid.UUID
    principal: Principal
    agent: AgentRef
    version: AgentVersion
    """The stored version the agent factory builds from."""
    user_prompt: str | Sequence[UserContent] | None
    message_history: list[ModelMessage]
    deps_vars: dict[str, Any]
    model_settings: dict[str, Any] | None
    usage_limits: UsageLimits
    deadline_s: float
    started_at: Any
    request_id: str | None = None
    deferred_tool_results: DeferredToolResults | None = None
    session_id: uuid.UUID | None = None
    """The session the run extends; its history is replaced when the run completes."""
    capabilities: list[Any] = field(default_factory=list[Any])
    """Per-run capabilities (the session's tool restriction)."""
    lineage: tuple[uuid.UUID, ...] = ()
    """Agent ids from the root run down to this one's parent (the `agent` tool's limits)."""
    start_seq: int = 0
    """Events already stored (a resumed background run numbers on from here, without a new `run.started`)."""
    instructions: list[str] = field(default_factory=list[str])
    """Per-run instructions added to the definition's (`RunExtras.instructions`)."""
    toolsets: list[AbstractToolset[RunDeps]] = field(default_factory=list[AbstractToolset[RunDeps]])
    """Per-run toolsets: the caller's external tools (`RunExtras.tools`)."""
    streamed: bool = True
    """Stream the model's answers and relay events live. ``False`` (a plain sync run, nobody follows it
    live): the model is called without streaming and the run's events are derived from its new
    messages when it ends, then stored with the terminal event in one transaction."""

    @property
    def structured(self) -> bool:
        """The agent has an `output_schema`: its final answer is JSON, streamed as `output.delta`s."""
        return self.version.definition.get("output_schema") is not None


def spec_of(
    run: Run,
    version: AgentVersion,
    principal: Principal,
    *,
    session_tools: list[str] | None = None,
    deferred_tool_results: DeferredToolResults | None = None,
    lineage: tuple[uuid.UUID, ...] = (),
    start_seq: int = 0,
    streamed: bool = True,
) -> RunSpec:
    """The spec of a stored run (its ``started_at`` must be set)."""
    options = run.run_options
    return RunSpec(
        run_id=run.id,
        principal=principal,
        agent=AgentRef.model_validate(run.agent_ref),
        version=version,
        user_prompt=parse_input(run.input),
        message_history=parse_history(run.message_history, field="message_history"),
        deps_vars=run.deps or {},
        model_settings=options.model_settings,
        usage_limits=effective_limits(version.definition, options.usage_limits),
        deadline_s=options.deadline_ms / 1000,
        started_at=run.started_at,
        request_id=options.request_id,
        deferred_tool_results=deferred_tool_results,
        session_id=run.session_id,
        capabilities=[SessionTools(allowed=frozenset(session_tools))] if session_tools is not None else [],
        lineage=lineage,
        start_seq=start_seq,
        streamed=streamed,
        **_extras(options.extras),
    )


def _extras(extras: RunExtras | None) -> dict[str, Any]:
    if extras is None:
        return {}
    tools = [ExternalTool.model_validate(tool) for tool in extras.tools]
    return {"instructions": list(extras.instructions), "toolsets": [caller_toolset(tools)] if tools else []}


# -- request parsing (admission uses these; so does `spec_of` for stored values) --------------


def field_errors(exc: ValidationError, *loc: str | int) -> list[dict[str, Any]]:
    return [{"loc": [*loc, *e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def parse_history(raw: list[dict[str, Any]] | None, *, field: str) -> list[ModelMessage]:
    if not raw:
        return []
    try:
        return ModelMessagesTypeAdapter.validate_python(raw)
    except ValidationError as exc:
        raise InvalidRunRequest(
            f"`{field}` is not valid pydantic-ai message JSON.", details={"errors": field_errors(exc, "body", field)}
        ) from exc


def parse_input(raw: str | list[str | dict[str, Any]] | None) -> str | list[UserContent] | None:
    if raw is None or isinstance(raw, str):
        return raw
    parts: list[UserContent] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            parts.append(item)
            continue
        if item.get("kind") not in _ACCEPTED_PART_KINDS:
            raise InvalidRunRequest(
                f"input[{index}]: only text and binary parts are accepted (the server fetches no URLs).",
                details={"errors": [{"loc": ["body", "input", index, "kind"], "msg": "unsupported part kind"}]},
            )
        try:
            parts.append(_USER_CONTENT.validate_python(item))
        except ValidationError as exc:
            raise InvalidRunRequest(
                f"input[{index}] is not a valid content part.",
                details={"errors": field_errors(exc, "body", "input", index)},
            ) from exc
    return parts


def check_model_settings(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    unknown = sorted(set(raw) - ALLOWED_MODEL_SETTINGS)
    if unknown:
        raise InvalidRunRequest(
            f"model_settings: {', '.join(unknown)} not allowed.",
            details={"errors": [{"loc": ["body", "model_settings", k], "msg": "not allowed"} for k in unknown]},
        )
    return raw


def effective_limits(definition: dict[str, Any], requested: UsageLimitsIn | None) -> UsageLimits:
    """Per field the smaller of the definition's and the request's limit (a looser request is clamped)."""
    configured: dict[str, Any] = definition.get("usage_limits") or {}
    asked = requested.model_dump(exclude_none=True) if requested else {}
    limits: dict[str, Any] = {}
    for name in UsageLimitsIn.model_fields:
        values = [v for v in (configured.get(name), asked.get(name)) if v is not None]
        if values:
            limits[name] = min(values)
    return UsageLimits(
        request_limit=limits.get("request_limit", DEFAULT_REQUEST_LIMIT),
        tool_calls_limit=limits.get("tool_calls_limit"),
        input_tokens_limit=limits.get("input_tokens_limit"),
        output_tokens_limit=limits.get("output_tokens_limit"),
        total_tokens_limit=limits.get("total_tokens_limit"),
        cost_limit=Decimal(str(limits["cost_limit_usd"])) if "cost_limit_usd" in limits else None,
    )


def deferred_results(deferred: Deferred, body: ResumeRequest) -> DeferredToolResults:
    call_ids = {c.tool_call_id for c in deferred.calls}
    approval_ids = {c.tool_call_id for c in deferred.approvals}
    answered = set(body.tool_results) | set(body.tool_errors)
    problems: list[dict[str, Any]] = []
    for key in sorted(set(body.tool_results) & set(body.tool_errors)):
        problems.append({"loc": ["body", "tool_errors", key], "msg": "answered both as a result and as an error"})
    for key in sorted(answered - call_ids):
        problems.append({"loc": ["body", "tool_results", key], "msg": "no pending external call has this id"})
    for key in sorted(set(body.approvals) - approval_ids):
        problems.append({"loc": ["body", "approvals", key], "msg": "no pending approval has this id"})
    for key in sorted(call_ids - answered):
        problems.append({"loc": ["body", "tool_results", key], "msg": "pending call not answered"})
    for key in sorted(approval_ids - set(body.approvals)):
        problems.append({"loc": ["body", "approvals", key], "msg": "pending approval not answered"})
    if problems:
        raise InvalidRunRequest("The answers do not match the pending calls.", details={"errors": problems})
    calls: dict[str, Any] = dict(body.tool_results)
    calls.update({key: ModelRetry(message) for key, message in body.tool_errors.items()})
    approvals: dict[str, Any] = {}
    for key, decision in body.approvals.items():
        if isinstance(decision, bool):
            approvals[key] = decision
        elif decision.override_args is not None:
            approvals[key] = ToolApproved(override_args=decision.override_args)
        else:
            approvals[key] = ToolDenied(decision.message or "The tool call was denied.")
    return DeferredToolResults(calls=calls, approvals=approvals)
