"""The scripted upstream speaks the wire format pydantic-ai's real OpenAI chat model expects."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent, AgentRunResultEvent, PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
from pydantic_ai.exceptions import ContentFilterError, ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.doubles.openai_upstream import (
    Hang,
    ScriptedUpstream,
    Text,
    ToolCall,
    ToolCalls,
    Usage,
    content_filtered,
    rate_limited,
    server_error,
)


@pytest.fixture
async def model(upstream: ScriptedUpstream) -> AsyncIterator[OpenAIChatModel]:
    client = AsyncOpenAI(base_url=upstream.base_url, api_key="sk-double", max_retries=0)
    try:
        yield OpenAIChatModel("gpt-test", provider=OpenAIProvider(openai_client=client))
    finally:
        await client.close()


async def test_streamed_text_with_usage(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(Text("Hello there friend", usage=Usage(prompt_tokens=30, completion_tokens=3), chunk_delay=0.01))
    agent = Agent(model)
    pieces: list[str] = []
    async with agent.run_stream_events("hi") as events:
        async for event in events:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                pieces.append(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                pieces.append(event.delta.content_delta)
            elif isinstance(event, AgentRunResultEvent):
                usage = event.result.usage
    assert (pieces, usage.input_tokens, usage.output_tokens) == (["Hello", " there", " friend"], 30, 3)
    [request] = upstream.chat_requests
    assert (request.api_key, request.body["stream"], request.body["stream_options"]) == (
        "sk-double",
        True,
        {"include_usage": True},
    )


async def test_tool_call_then_text_non_streaming(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(ToolCalls(ToolCall("add", {"a": 2, "b": 3})), Text("five"))
    agent = Agent(model)

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        return a + b

    result = await agent.run("2+3?")
    assert (result.output, result.usage.requests, result.usage.tool_calls) == ("five", 2, 1)
    tool_message = upstream.chat_requests[1].body["messages"][-1]
    assert (tool_message["role"], tool_message["content"]) == ("tool", "5")


async def test_streamed_tool_call(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(ToolCalls(ToolCall("add", {"a": 40, "b": 2})), Text("forty two"))
    agent = Agent(model)
    seen: list[int] = []

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        seen.append(a + b)
        return a + b

    async with agent.run_stream("40+2?") as result:
        output = await result.get_output()
    assert (output, seen) == ("forty two", [42])


async def test_errors_map_to_pydantic_ai_exceptions(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(rate_limited(retry_after=3), server_error(), content_filtered())
    agent = Agent(model)
    with pytest.raises(ModelHTTPError) as limited:
        await agent.run("x")
    assert (limited.value.status_code, limited.value.retry_after) == (429, 3.0)
    with pytest.raises(ModelHTTPError) as failed:
        await agent.run("x")
    assert failed.value.status_code == 500
    with pytest.raises(ContentFilterError):
        await agent.run("x")


async def test_unscripted_request_is_a_500(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    with pytest.raises(ModelHTTPError) as failed:
        await Agent(model).run("x")
    assert (failed.value.status_code, failed.value.body) == (
        500,
        {
            "message": "no scripted reply left for this request",
            "type": "server_error",
            "param": None,
            "code": "no_scripted_reply",
        },
    )


async def test_hang_ends_when_the_client_goes_away(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(Hang())
    task = asyncio.create_task(Agent(model).run("x"))
    await upstream.wait_for_requests(1)
    task.cancel()
    await upstream.wait_for_disconnects(1)
    assert task.cancelled()


async def test_slow_reply_is_slow(upstream: ScriptedUpstream, model: OpenAIChatModel) -> None:
    upstream.script(Text("late", first_byte_delay=0.3))
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await Agent(model).run("x")
    assert (result.output, loop.time() - started >= 0.3) == ("late", True)
