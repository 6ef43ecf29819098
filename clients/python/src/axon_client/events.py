"""Typed run events (API.md §3.3). Every event carries ``run_id`` and ``seq`` (its number within the run)."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from axon_client.errors import AxonError, from_envelope
from axon_client.models import AgentRef, Deferred, RunResult, Usage, WireModel


class RunEvent(WireModel):
    event: ClassVar[str] = ""
    run_id: str
    seq: int

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL_EVENTS


class RunStarted(RunEvent):
    event: ClassVar[str] = "run.started"
    agent: AgentRef
    session_id: str | None = None


class TextDelta(RunEvent):
    event: ClassVar[str] = "text.delta"
    delta: str


class ThinkingDelta(RunEvent):
    event: ClassVar[str] = "thinking.delta"
    delta: str


class ToolCall(RunEvent):
    event: ClassVar[str] = "tool.call"
    tool_call_id: str
    tool_name: str
    args: Any = None


class ToolResultEvent(RunEvent):
    event: ClassVar[str] = "tool.result"
    tool_call_id: str
    tool_name: str
    content: Any = None
    outcome: Literal["success", "error", "retry"] | str = "success"


class OutputDelta(RunEvent):
    event: ClassVar[str] = "output.delta"
    output: Any = None


class RunCompleted(RunEvent):
    """The whole RunResult; `result` gives it as a `RunResult`."""

    event: ClassVar[str] = "run.completed"
    status: str = "completed"
    agent: AgentRef
    output: Any = None
    usage: Usage = Field(default_factory=Usage)
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    deferred: Deferred | None = None

    @property
    def result(self) -> RunResult:
        return RunResult.model_validate(self.model_dump())


class RunRequiresAction(RunCompleted):
    event: ClassVar[str] = "run.requires_action"
    status: str = "requires_action"


class RunFailed(RunEvent):
    """The error envelope; `error` gives it as the typed exception."""

    event: ClassVar[str] = "run.failed"
    error_type: str
    message: str
    details: dict[str, Any] | list[Any] | None = None
    retryable: bool = False
    retry_after: float | None = None
    request_id: str | None = None

    @property
    def error(self) -> AxonError:
        return from_envelope(self.model_dump())


class RunCancelled(RunEvent):
    event: ClassVar[str] = "run.cancelled"
    usage: Usage = Field(default_factory=Usage)


class UnknownEvent(RunEvent):
    """An event this client does not know yet (a newer server); ``name`` is its SSE event name."""

    name: str = ""


EVENT_TYPES: dict[str, type[RunEvent]] = {
    cls.event: cls
    for cls in (
        RunStarted,
        TextDelta,
        ThinkingDelta,
        ToolCall,
        ToolResultEvent,
        OutputDelta,
        RunCompleted,
        RunRequiresAction,
        RunFailed,
        RunCancelled,
    )
}
TERMINAL_EVENTS = frozenset({"run.completed", "run.requires_action", "run.failed", "run.cancelled"})

AnyRunEvent = (
    RunStarted
    | TextDelta
    | ThinkingDelta
    | ToolCall
    | ToolResultEvent
    | OutputDelta
    | RunCompleted
    | RunRequiresAction
    | RunFailed
    | RunCancelled
    | UnknownEvent
)


def parse_event(name: str, data: str) -> RunEvent:
    """One SSE message (``event:`` name and ``data:`` JSON) as its typed event."""
    payload: dict[str, Any] = json.loads(data)
    cls = EVENT_TYPES.get(name)
    if cls is None:
        return UnknownEvent.model_validate({**payload, "name": name})
    return cls.model_validate(payload)
