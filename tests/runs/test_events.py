"""Event translation against a hand-built pydantic-ai agent (no HTTP): our vocabulary, numbered."""

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import pytest
from dirty_equals import IsStr
from pydantic_ai import Agent, StructuredDict
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.tools import RunContext

from app.runs.events import EventTranslator, RunChannel


async def _collect(agent: Agent[None, Any], structured: bool) -> list[tuple[str, dict[str, Any]]]:
    translator = EventTranslator(structured=structured)
    out: list[tuple[str, dict[str, Any]]] = []

    async def handler(_ctx: RunContext[None], events: AsyncIterable[Any]) -> None:
        async for event in events:
            out.extend(translator.translate(event))

    await agent.run("go", event_stream_handler=handler)
    return out


async def test_tool_call_then_text() -> None:
    async def stream(messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        if len(messages) == 1:
            yield {0: DeltaToolCall(name="add", json_args='{"a": 1, "b": 2}', tool_call_id="c1")}
        else:
            yield "The sum "
            yield "is 3."

    agent = Agent(FunctionModel(stream_function=stream))

    @agent.tool_plain
    def add(a: int, b: int) -> int:  # pyright: ignore[reportUnusedFunction]
        return a + b

    assert await _collect(agent, structured=False) == [
        ("tool.call", {"tool_call_id": "c1", "tool_name": "add", "args": {"a": 1, "b": 2}}),
        ("tool.result", {"tool_call_id": "c1", "tool_name": "add", "content": 3, "outcome": "success"}),
        ("text.delta", {"delta": "The sum "}),
        ("text.delta", {"delta": "is 3."}),
    ]


async def test_structured_output_streams_partial_objects() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}

    async def stream(_messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[DeltaToolCalls]:
        name = info.output_tools[0].name
        yield {0: DeltaToolCall(name=name, json_args='{"answer": "he', tool_call_id="o1")}
        yield {0: DeltaToolCall(json_args='llo"}')}

    agent = Agent(FunctionModel(stream_function=stream), output_type=StructuredDict(schema))
    events = await _collect(agent, structured=True)
    assert events == [("output.delta", {"output": {"answer": "he"}}), ("output.delta", {"output": {"answer": "hello"}})]


async def test_channel_numbers_events_and_has_one_terminal() -> None:
    channel = RunChannel("run-1")
    channel.emit("run.started", {"agent": {}})
    subscriber = channel.subscribe()
    first = await anext(subscriber)
    channel.emit("text.delta", {"delta": "hi"})
    terminal = channel.make("run.completed", {"status": "completed"})
    with pytest.raises(RuntimeError, match="exactly one terminal"):
        channel.make("run.failed", {})
    channel.publish(terminal)
    rest = [e async for e in subscriber]
    assert [(e.seq, e.event, e.data) for e in [first, *rest]] == [
        (1, "run.started", {"agent": {}, "run_id": "run-1", "seq": 1}),
        (2, "text.delta", {"delta": "hi", "run_id": "run-1", "seq": 2}),
        (3, "run.completed", {"status": "completed", "run_id": IsStr(), "seq": 3}),
    ]
    assert [e.seq for e in channel.take_unsaved()] == [1, 2, 3]
