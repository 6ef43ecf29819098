"""Wire shapes of runs (API.md §3.1, §3.2, §2.1 Run). A stored `Run` row validates straight into
`RunOut` (``from_attributes``); the terminal event's data validates into `RunResult`."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.usage import RunUsage

from app.errors import ErrorEnvelope
from app.runs.models import RunStatus, UsageLimitsIn

OnDisconnect = Literal["cancel", "continue"]


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
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Run this version instead of the current one."
    )
    model_settings: dict[str, Any] | None = Field(
        default=None,
        description="Merged over the definition's `model_settings`; `extra_headers` and `extra_body` are refused.",
    )
    usage_limits: UsageLimitsIn | None = None
    deadline_ms: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
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
    deadline_ms: int | None = Field(default=None, ge=1, le=2**31 - 1)
    metadata: dict[str, Any] | None = None


class AgentRef(BaseModel):
    id: str
    name: str
    version: int
    spec_hash: str


class Usage(BaseModel):
    """What a run used, its sub-runs (`agent` tools) included."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    tool_calls: int = 0
    cache_read_tokens: int = Field(default=0, description="Input tokens read from the provider's cache.")
    cache_write_tokens: int = Field(default=0, description="Input tokens written to the provider's cache.")
    reasoning_tokens: int = Field(default=0, description="Output tokens spent reasoning (part of `output_tokens`).")
    cost_usd: float | None = Field(
        default=None,
        description="Sum of the priced model requests (genai-prices, or the model endpoint's own `prices`); "
        "null when no request had a known price.",
    )

    @classmethod
    def of(cls, usage: RunUsage) -> "Usage":
        return cls(
            requests=usage.requests,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            tool_calls=usage.tool_calls,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.output_reasoning_tokens,
            cost_usd=float(usage.cost) if usage.cost is not None else None,
        )

    def run_usage(self) -> RunUsage:
        """Back to pydantic-ai's type (a sub-run's usage added to its parent's)."""
        return RunUsage(
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tool_calls=self.tool_calls,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            output_reasoning_tokens=self.reasoning_tokens,
            cost=Decimal(str(self.cost_usd)) if self.cost_usd is not None else None,
        )


class DeferredCall(BaseModel):
    tool_call_id: str
    tool_name: str
    args: Any


class Deferred(BaseModel):
    calls: list[DeferredCall]
    approvals: list[DeferredCall]

    @classmethod
    def of(cls, requests: DeferredToolRequests) -> "Deferred":
        def call(part: ToolCallPart) -> DeferredCall:
            try:
                args = part.args_as_dict()
            except ValueError:
                args = part.args
            return DeferredCall(tool_call_id=part.tool_call_id, tool_name=part.tool_name, args=args)

        return cls(calls=[call(p) for p in requests.calls], approvals=[call(p) for p in requests.approvals])


class RunResult(BaseModel):
    """The answer of a finished sync run (API.md §3.2); also the data of `run.completed`."""

    model_config = ConfigDict(from_attributes=True)

    run_id: uuid.UUID = Field(validation_alias=AliasChoices("run_id", "id"))
    status: RunStatus
    agent: AgentRef = Field(validation_alias=AliasChoices("agent", "agent_ref"))
    output: Any = None
    usage: Usage
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="New messages.")
    deferred: Deferred | None = None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_ms: int | None

    @field_validator("usage", mode="before")
    @classmethod
    def _no_usage_yet(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("messages", mode="before")
    @classmethod
    def _no_messages_yet(cls, value: Any) -> Any:
        return [] if value is None else value


class RunOut(RunResult):
    """A stored run (API.md §2.1)."""

    error: ErrorEnvelope | None = None
    input: Any = None
    parent_run_id: uuid.UUID | None = None
    resumed_by: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    metadata: dict[str, Any] | None = Field(default=None, validation_alias=AliasChoices("run_metadata", "metadata"))
    worker: str | None = Field(
        default=None, description="The executor (process/replica, `AXON_EXECUTOR_ID`) that ran it last."
    )
    created_at: dt.datetime
    first_token_at: dt.datetime | None = None


class RunAccepted(BaseModel):
    """`?wait_ms` ran out, or a background run was queued: follow it at `events_url` or `GET /runs/{run_id}`."""

    run_id: uuid.UUID
    status: RunStatus
    events_url: str


class CancelPending(BaseModel):
    """The run did not stop within the server's wait; it will end ``cancelled`` (follow `events_url`)."""

    run_id: uuid.UUID
    status: Literal["cancel_pending"] = "cancel_pending"
    events_url: str
