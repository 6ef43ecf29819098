"""Our stream vocabulary (API.md §3.3): pydantic-ai events in, numbered run events out.

`EventTranslator` turns pydantic-ai's stream events into ``(name, data)`` pairs;
`RunChannel` numbers them from 1, fans them out to in-process subscribers and keeps the
list the executor persists in batches. `LiveChannels` is this process's map of running runs.
"""

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from pydantic_ai import messages as m

TERMINAL_EVENTS = frozenset({"run.completed", "run.requires_action", "run.failed", "run.cancelled"})
_OUTCOMES = {"success": "success", "retried": "retry"}


@dataclass(frozen=True)
class RunEventOut:
    """One numbered event; ``data`` always carries ``run_id`` and ``seq``."""

    seq: int
    event: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL_EVENTS


def _jsonable(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value, fallback=str)


def _args(part: m.ToolCallPart) -> Any:
    try:
        return part.args_as_dict()
    except ValueError:
        return part.args


@dataclass
class EventTranslator:
    """Stateful: remembers which parts carry the final structured output."""

    structured: bool
    """The agent has an `output_schema`: its final text/output-tool arguments are `output.delta`s."""
    _buffers: dict[int, str] = field(default_factory=dict[int, str])
    _tool_names: dict[int, str] = field(default_factory=dict[int, str])
    _output_tool: str | None = None
    _last_output: Any = None

    def translate(self, event: Any) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(event, m.PartStartEvent):
            return self._start(event.index, event.part)
        if isinstance(event, m.PartDeltaEvent):
            return self._delta(event.index, event.delta)
        if isinstance(event, m.FinalResultEvent):
            if event.tool_name is not None:
                self._output_tool = event.tool_name
                return self._output_from_buffers()
            return []
        if isinstance(event, m.FunctionToolCallEvent):
            part = event.part
            return [
                ("tool.call", {"tool_call_id": part.tool_call_id, "tool_name": part.tool_name, "args": _args(part)})
            ]
        if isinstance(event, m.FunctionToolResultEvent):
            result = event.part
            outcome = _OUTCOMES.get(result.outcome, "error")
            data = {
                "tool_call_id": result.tool_call_id,
                "tool_name": result.tool_name,
                "content": _jsonable(result.content),
                "outcome": outcome,
            }
            return [("tool.result", data)]
        return []

    def replay(
        self, messages: Sequence[m.ModelMessage], output_tools: Collection[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        """The events of a run made without streaming, derived from its new messages.

        Synthesises the pydantic-ai events a streamed run would have produced (a `PartStartEvent`
        with the whole part, `FinalResultEvent` for an output tool call, `FunctionToolCallEvent`
        per function tool call and `FunctionToolResultEvent` per returned result) and translates
        them, so the vocabulary has one owner: a text part becomes one `text.delta` carrying the
        whole text (one `output.delta` with the whole output when structured).
        """
        out: list[tuple[str, dict[str, Any]]] = []
        calls: set[str] = set()
        for message in messages:
            if isinstance(message, m.ModelResponse):
                function_calls: list[m.ToolCallPart] = []
                for index, part in enumerate(message.parts):
                    out += self.translate(m.PartStartEvent(index=index, part=part))
                    if isinstance(part, m.ToolCallPart):
                        if part.tool_name in output_tools:
                            out += self.translate(
                                m.FinalResultEvent(tool_name=part.tool_name, tool_call_id=part.tool_call_id)
                            )
                        else:
                            function_calls.append(part)
                for call in function_calls:
                    calls.add(call.tool_call_id)
                    out += self.translate(m.FunctionToolCallEvent(call))
            elif isinstance(message, m.ModelRequest):  # pyright: ignore[reportUnnecessaryIsInstance]
                for part in message.parts:
                    if isinstance(part, m.ToolReturnPart) and part.tool_call_id in calls:
                        calls.discard(part.tool_call_id)
                        out += self.translate(m.FunctionToolResultEvent(part))
        return out

    def _start(self, index: int, part: Any) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(part, m.TextPart):
            self._buffers[index] = part.content
            return self._text(index, part.content)
        if isinstance(part, m.ThinkingPart):
            return [("thinking.delta", {"delta": part.content})] if part.content else []
        if isinstance(part, m.ToolCallPart):
            self._tool_names[index] = part.tool_name
            self._buffers[index] = (
                part.args if isinstance(part.args, str) else pydantic_core.to_json(part.args).decode()
            )
            return self._output_from_buffers() if part.tool_name == self._output_tool else []
        return []

    def _delta(self, index: int, delta: Any) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(delta, m.TextPartDelta):
            self._buffers[index] = self._buffers.get(index, "") + delta.content_delta
            return self._text(index, delta.content_delta)
        if isinstance(delta, m.ThinkingPartDelta):
            return [("thinking.delta", {"delta": delta.content_delta})] if delta.content_delta else []
        if isinstance(delta, m.ToolCallPartDelta):
            if isinstance(delta.args_delta, str):
                self._buffers[index] = self._buffers.get(index, "") + delta.args_delta
            elif isinstance(delta.args_delta, dict):
                self._buffers[index] = pydantic_core.to_json(delta.args_delta).decode()
            if self._tool_names.get(index) == self._output_tool:
                return self._partial_output(index)
        return []

    def _text(self, index: int, chunk: str) -> list[tuple[str, dict[str, Any]]]:
        if not chunk:
            return []
        if self.structured:
            return self._partial_output(index)
        return [("text.delta", {"delta": chunk})]

    def _output_from_buffers(self) -> list[tuple[str, dict[str, Any]]]:
        for index, name in self._tool_names.items():
            if name == self._output_tool:
                return self._partial_output(index)
        return []

    def _partial_output(self, index: int) -> list[tuple[str, dict[str, Any]]]:
        raw = self._buffers.get(index, "").strip()
        if not raw.startswith("{"):
            return []
        try:
            output = pydantic_core.from_json(raw, allow_partial="trailing-strings")
        except ValueError:
            return []
        if output == self._last_output:
            return []
        self._last_output = output
        return [("output.delta", {"output": output})]


def derive_events(
    translator: EventTranslator,
    messages: list[m.ModelMessage],
    agent: Any,
    emit: Any,
    first_token_at: list[Any],
) -> None:
    """The events of a run made without streaming, from its new messages; ``first_token_at`` is the
    time the first model response arrived."""
    responses = [message for message in messages if isinstance(message, m.ModelResponse)]
    if responses and not first_token_at:
        first_token_at.append(responses[0].timestamp)
    for name, data in translator.replay(messages, _output_tools(agent)):
        emit(name, data)


def _output_tools(agent: Any) -> frozenset[str]:
    """The names of the agent's output tools (their calls are the structured output, not `tool.call`s)."""
    toolset: Any = getattr(agent, "_output_toolset", None)
    processors: dict[str, Any] = getattr(toolset, "processors", None) or {}
    return frozenset(processors)


LiveChannels = dict[str, "RunChannel"]
"""Run id → the channel of a run this process executes (owned by the executor, read by the follower)."""


class RunChannel:
    """The numbered events of one live run, fanned out to in-process subscribers."""

    def __init__(self, run_id: str, start_seq: int = 0) -> None:
        self.run_id = run_id
        self.seq = start_seq
        self.history: list[RunEventOut] = []
        self.unsaved: list[RunEventOut] = []
        self._subscribers: set[asyncio.Queue[RunEventOut | None]] = set()
        self.finished = asyncio.Event()
        """Set when the executor is done with the run: its terminal event published, or abandoned (`close`)."""
        self._numbered_terminal = False
        self._closed = False

    @property
    def terminal(self) -> RunEventOut | None:
        return self.history[-1] if self.history and self.history[-1].terminal else None

    def make(self, event: str, data: dict[str, Any]) -> RunEventOut:
        """Number an event and queue it for storage; subscribers see it on `publish`."""
        if self._numbered_terminal:
            raise RuntimeError("a run has exactly one terminal event")
        self.seq += 1
        out = RunEventOut(self.seq, event, {**data, "run_id": self.run_id, "seq": self.seq})
        self._numbered_terminal = out.terminal
        self.unsaved.append(out)
        return out

    def publish(self, out: RunEventOut) -> None:
        self.history.append(out)
        for queue in self._subscribers:
            queue.put_nowait(out)
        if out.terminal:
            self.finished.set()

    def emit(self, event: str, data: dict[str, Any]) -> RunEventOut:
        out = self.make(event, data)
        self.publish(out)
        return out

    def take_unsaved(self) -> list[RunEventOut]:
        batch, self.unsaved = self.unsaved, []
        return batch

    def close(self) -> None:
        """The executor is done without publishing a terminal event here (its end is in the database, or
        will be put there by reconcile): subscribers stop and read the rest from the database."""
        self._closed = True
        self.finished.set()
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def subscribe(self, after: int = 0) -> AsyncIterator[RunEventOut]:
        """Events after ``after`` (history first, then live) up to the terminal one, or until `close`."""
        queue: asyncio.Queue[RunEventOut | None] = asyncio.Queue()
        backlog = [e for e in self.history if e.seq > after]
        closed = self._closed  # closed before we subscribed: no wake-up will come
        self._subscribers.add(queue)
        try:
            for event in backlog:
                yield event
                if event.terminal:
                    return
            if closed:
                return
            last = backlog[-1].seq if backlog else after
            while (event := await queue.get()) is not None:
                if event.seq <= last:
                    continue
                yield event
                if event.terminal:
                    return
        finally:
            self._subscribers.discard(queue)
