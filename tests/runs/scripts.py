"""Scripted pydantic-ai models: a `FunctionModel` that plays one turn per model request."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, ModelResponsePart, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel


@dataclass
class Call:
    """The model calls a tool."""

    name: str
    args: dict[str, Any]
    id: str = "call-1"


@dataclass
class Out:
    """The model answers with structured output: the output tool if there is one, else JSON text."""

    value: Any


@dataclass
class Sleep:
    """The model thinks for a while, then plays ``then``."""

    seconds: float
    then: Any = "done"


@dataclass
class Wait:
    """The model thinks until the test sets ``until``, then plays ``then`` (no clock involved)."""

    until: asyncio.Event
    then: Any = "done"


@dataclass
class Slowly:
    """The model starts answering, pauses, then finishes."""

    first: str
    seconds: float
    rest: str


Turn = Slowly | str | Call | Out | Sleep | Wait | list[Call] | Callable[[list[ModelMessage], AgentInfo], Any]


@dataclass
class Script:
    turns: list[Turn]
    requests: list[tuple[list[ModelMessage], AgentInfo]] = field(
        default_factory=list[tuple[list[ModelMessage], AgentInfo]]
    )

    @property
    def model(self) -> FunctionModel:
        """Streams the turn's chunks, or (a run made without streaming) answers them as one response."""
        return FunctionModel(self._respond, stream_function=self._stream)

    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        text: list[str] = []
        calls: dict[int, DeltaToolCall] = {}
        async for chunk in self._stream(messages, info):
            if isinstance(chunk, str):
                text.append(chunk)
            else:
                calls.update(chunk)
        parts: list[ModelResponsePart] = [TextPart("".join(text))] if text else []
        parts += [
            ToolCallPart(c.name or "", c.json_args, tool_call_id=c.tool_call_id or f"call-{i}")
            for i, c in sorted(calls.items())
        ]
        return ModelResponse(parts=parts)

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        self.requests.append((messages, info))
        turn = self.turns[min(len(self.requests), len(self.turns)) - 1]
        async for chunk in _play(turn, messages, info):
            yield chunk


async def _play(turn: Turn, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    if isinstance(turn, Sleep):
        await asyncio.sleep(turn.seconds)
        turn = turn.then
    if isinstance(turn, Wait):
        await turn.until.wait()
        turn = turn.then
    if isinstance(turn, Slowly):
        yield turn.first
        await asyncio.sleep(turn.seconds)
        yield turn.rest
        return
    if callable(turn) and not isinstance(turn, Call | Out | Sleep | Wait | list):
        turn = turn(messages, info)
    if isinstance(turn, str):
        for word in turn.split(" "):
            yield word if word == turn.split(" ")[0] else " " + word
    elif isinstance(turn, Call):
        yield {0: DeltaToolCall(name=turn.name, json_args=json.dumps(turn.args), tool_call_id=turn.id)}
    elif isinstance(turn, list):
        yield {
            i: DeltaToolCall(name=c.name, json_args=json.dumps(c.args), tool_call_id=c.id) for i, c in enumerate(turn)
        }
    elif isinstance(turn, Out):
        if info.output_tools:
            yield {
                0: DeltaToolCall(name=info.output_tools[0].name, json_args=json.dumps(turn.value), tool_call_id="out")
            }
        else:
            yield json.dumps(turn.value)


def script(*turns: Turn) -> Script:
    return Script(list(turns))
