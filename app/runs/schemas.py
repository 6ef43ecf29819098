"""Wire shapes of runs (API.md §3.1, §3.2, §2.1 Run)."""

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.errors import ErrorEnvelope

RunStatus = Literal["queued", "running", "requires_action", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"requires_action", "completed", "failed", "cancelled"})
OnDisconnect = Literal["cancel", "continue"]


class UsageLimitsIn(BaseModel):
    """Budgets for one run. Each is tightened, never loosened: the effective limit is the
    smaller of the definition's and the request's; a looser request value is clamped."""

    model_config = ConfigDict(extra="forbid")

    request_limit: int | None = Field(default=None, ge=1)
    tool_calls_limit: int | None = Field(default=None, ge=0)
    input_tokens_limit: int | None = Field(default=None, ge=1)
    output_tokens_limit: int | None = Field(default=None, ge=1)
    total_tokens_limit: int | None = Field(default=None, ge=1)


class RunRequest(BaseModel):
    """The body of every run endpoint (API.md §3.1)."""

    model_config = ConfigDict(extra="forbid")

    input: str | list[str | dict[str, Any]] | None = Field(
        default=None,
        description="The user prompt: a string, or a list of user content parts (strings, or pydantic-ai "
        '`{"kind": "binary", "data": …, "media_type": …}` parts; URL parts are refused).',
    )
    deps: dict[str, Any] | None = Field(
        default=None, description="Variables for the definition's `{{templates}}`; visible to tools."
    )
    message_history: list[dict[str, Any]] | None = Field(
        default=None,
        description="Stateless mode: the conversation so far as pydantic-ai message JSON. "
        "A malformed history is a 422 naming the problem.",
    )
    session_id: str | None = Field(
        default=None, description="Server-owned history (API.md §3.6); not together with `message_history`."
    )
    version: int | None = Field(default=None, ge=1, description="Run this version instead of the current one.")
    model_settings: dict[str, Any] | None = Field(
        default=None,
        description="Merged over the definition's `model_settings`; `extra_headers` and `extra_body` are refused.",
    )
    usage_limits: UsageLimitsIn | None = None
    deadline_ms: int | None = Field(
        default=None,
        ge=1,
        description="Wall-time budget of the whole run. Defaults to the server's `default_deadline_ms`; "
        "above `max_deadline_ms` is a 422.",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Caller metadata, stored with the run.")


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(default=None, description="Deny the call; the model sees this message.")
    override_args: dict[str, Any] | None = Field(default=None, description="Approve with these arguments instead.")


class ResumeRequest(BaseModel):
    """Answers for every pending call of a `requires_action` run (API.md §3.4)."""

    model_config = ConfigDict(extra="forbid")

    tool_results: dict[str, Any] = Field(default_factory=dict, description="`tool_call_id` → the tool's result.")
    tool_errors: dict[str, str] = Field(
        default_factory=dict,
        description="`tool_call_id` → a message the model sees as the tool's error (it may retry).",
    )
    approvals: dict[str, bool | ApprovalDecision] = Field(
        default_factory=dict,
        description='`tool_call_id` → `true` (approve), `false` (deny), `{"message"}` (deny with a message for '
        'the model) or `{"override_args"}` (approve with other arguments).',
    )
    deps: dict[str, Any] | None = Field(default=None, description="Defaults to the paused run's `deps`.")
    model_settings: dict[str, Any] | None = None
    usage_limits: UsageLimitsIn | None = None
    deadline_ms: int | None = Field(default=None, ge=1)
    metadata: dict[str, Any] | None = None


class AgentRef(BaseModel):
    id: str
    name: str
    version: int
    spec_hash: str


class Usage(BaseModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    tool_calls: int = 0


class DeferredCall(BaseModel):
    tool_call_id: str
    tool_name: str
    args: Any


class Deferred(BaseModel):
    calls: list[DeferredCall]
    approvals: list[DeferredCall]


class RunResult(BaseModel):
    """The answer of a finished sync run (API.md §3.2); also the data of `run.completed`."""

    run_id: str
    status: RunStatus
    agent: AgentRef
    output: Any = None
    usage: Usage
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="New messages.")
    deferred: Deferred | None = None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_ms: int | None


class RunOut(RunResult):
    """A stored run (API.md §2.1)."""

    error: ErrorEnvelope | None = None
    input: Any = None
    parent_run_id: str | None = None
    resumed_by: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] | None = None
    worker: str | None = Field(
        default=None, description="The executor (process/replica, `AXON_EXECUTOR_ID`) that ran it last."
    )
    created_at: dt.datetime
    first_token_at: dt.datetime | None = None


class RunAccepted(BaseModel):
    """`?wait_ms` ran out: the run goes on; follow it at `events_url` or `GET /runs/{run_id}`."""

    run_id: str
    status: RunStatus
    events_url: str
