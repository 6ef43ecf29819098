"""Pydantic models of the service's wire shapes (API.md §2.1, §3, §5), checked against its OpenAPI document.

Every model accepts fields it does not know (``extra="allow"``), so a newer server does not break an
older client; the test suite compares the field names with the server's schemas so they do not drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["queued", "running", "requires_action", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"requires_action", "completed", "failed", "cancelled"})


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow")


T = TypeVar("T")


class Page(WireModel, Generic[T]):
    """One page of a list; `AxonClient` walks ``next_cursor`` for you."""

    items: list[T]
    next_cursor: str | None = None


class Agent(WireModel):
    """An agent with its current definition (``version`` and ``spec_hash`` are the current version's)."""

    id: str
    name: str
    scope: str
    owner_id: str
    version: int
    spec_hash: str
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    warnings: list[str] = Field(default_factory=list[str])
    """Non-fatal remarks about a definition just written (create/update only)."""


class AgentVersion(WireModel):
    version: int
    spec_hash: str
    definition: dict[str, Any]
    created_by: str | None = None
    created_at: dt.datetime
    current: bool


class ValidationResult(WireModel):
    valid: bool = True
    definition: dict[str, Any]
    spec_hash: str
    warnings: list[str] = Field(default_factory=list[str])


class AgentRef(WireModel):
    id: str
    name: str
    version: int
    spec_hash: str


class Usage(WireModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    tool_calls: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    """USD; None when no model request of the run had a known price."""


class DeferredCall(WireModel):
    tool_call_id: str
    tool_name: str
    args: Any = None


class Deferred(WireModel):
    """What a ``requires_action`` run waits for: external tool ``calls`` and ``approvals``."""

    calls: list[DeferredCall] = Field(default_factory=list[DeferredCall])
    approvals: list[DeferredCall] = Field(default_factory=list[DeferredCall])


class ErrorEnvelope(WireModel):
    status: Literal["error"] = "error"
    error_type: str
    message: str
    details: dict[str, Any] | list[Any] | None = None
    retryable: bool = False
    retry_after: float | None = None
    run_id: str | None = None
    request_id: str | None = None


class RunResult(WireModel):
    """A finished run (API.md §3.2): ``completed``, or ``requires_action`` with ``deferred``."""

    run_id: str
    status: RunStatus
    agent: AgentRef
    output: Any = None
    usage: Usage = Field(default_factory=Usage)
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    deferred: Deferred | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    duration_ms: int | None = None


class Run(RunResult):
    """A stored run (``GET /runs/{id}``)."""

    error: ErrorEnvelope | None = None
    input: Any = None
    parent_run_id: str | None = None
    resumed_by: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] | None = None
    worker: str | None = None
    created_at: dt.datetime
    first_token_at: dt.datetime | None = None


class RunAccepted(WireModel):
    """A background run was queued (or ``wait_ms`` ran out): follow it with ``runs.wait`` or ``runs.events``."""

    run_id: str
    status: RunStatus
    events_url: str


class CancelPending(WireModel):
    """``POST /runs/{id}/cancel`` answered ``202``: the run is still stopping."""

    run_id: str
    status: str = "cancel_pending"
    events_url: str


class UsageLimits(WireModel):
    request_limit: int | None = None
    tool_calls_limit: int | None = None
    input_tokens_limit: int | None = None
    output_tokens_limit: int | None = None
    total_tokens_limit: int | None = None
    cost_limit_usd: float | None = None


class ApprovalDecision(WireModel):
    """Deny with a ``message`` for the model, or approve with ``override_args``."""

    message: str | None = None
    override_args: dict[str, Any] | None = None


class SessionAgent(WireModel):
    id: str
    name: str


class Session(WireModel):
    id: str
    agent: SessionAgent
    tools: list[str] | None = None
    metadata: dict[str, Any] | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int
    active_run_id: str | None = None


class SessionMessages(WireModel):
    session_id: str
    message_count: int
    messages: list[dict[str, Any]]


class ToolInfo(WireModel):
    name: str
    type: str
    description: str | None = None
    parameters: dict[str, Any]
    requires_approval: bool = False


class ToolList(WireModel):
    format: str
    tools: list[dict[str, Any]]


class ToolResultError(WireModel):
    message: str


class ToolResult(WireModel):
    """``POST /tools/{name}/execute``: ``status`` is ``SUCCESS`` (see ``content``) or ``ERROR`` (see ``error``)."""

    name: str
    status: str
    content: Any = None
    error: ToolResultError | None = None


class ModelEndpoint(WireModel):
    name: str
    base_url: str
    has_api_key: bool
    prices: dict[str, float | None] | None = None
    """USD per million tokens: ``input_per_mtok``, ``output_per_mtok``, ``cache_read_per_mtok``, ``cache_write_per_mtok``."""
    created_at: dt.datetime
    updated_at: dt.datetime


class ApplyResult(WireModel):
    """One file of `agents.apply`: what happened to the agent it defines."""

    file: str
    name: str
    outcome: Literal["created", "updated", "unchanged"]
    agent: Agent
