"""`POST /v1/chat/completions` through the official SDK."""

import httpx
import openai
from dirty_equals import IsInt
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart

from tests.runs.conftest import Define
from tests.runs.scripts import Call, Out, script
from tests.runs.sse import names, read_sse


async def test_plain_completion(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str], live_url: str
) -> None:
    model = script("Hello there friend")
    await define("greeter", model.model)
    answer = await sdk.chat.completions.create(
        model="greeter",
        messages=[
            {"role": "system", "content": "Speak like a pirate."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Ahoy"},
            {"role": "user", "content": "How are you?"},
        ],
        temperature=0.1,
        user="someone",
    )
    assert isinstance(answer, ChatCompletion)
    assert answer.choices[0].message.content == "Hello there friend"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.total_tokens > 0
    _, info = model.requests[0]
    assert info.instructions == "Speak like a pirate.\n\nBe brief."
    run = (await client.get(f"/runs/{answer.id}", headers=user_headers)).json()
    assert run["status"] == "completed"
    assert run["input"] == "How are you?"
    async with client.stream("GET", f"/runs/{answer.id}/events", headers=user_headers) as replay:
        assert names(await read_sse(replay)) == ["run.started", "text.delta", "run.completed"]
    # The SDK builds its objects without validation: check the raw JSON against its types ourselves.
    body = {"model": "greeter", "messages": [{"role": "user", "content": "Hi"}]}
    async with httpx.AsyncClient(base_url=live_url, headers=user_headers) as raw:
        ChatCompletion.model_validate((await raw.post("/v1/chat/completions", json=body)).json())
        streamed = body | {"stream": True, "stream_options": {"include_usage": True}}
        async with raw.stream("POST", "/v1/chat/completions", json=streamed) as answer:
            lines = [line async for line in answer.aiter_lines() if line.startswith("data: ")]
        models = (await raw.get("/v1/models")).json()
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        ChatCompletionChunk.model_validate_json(line.removeprefix("data: "))
    assert models == {
        "object": "list",
        "data": [{"id": "greeter", "object": "model", "created": IsInt(), "owned_by": "you"}],
    }


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _returned(messages: list[object]) -> ToolReturnPart:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    part = request.parts[-1]
    assert isinstance(part, ToolReturnPart)
    return part


async def test_tool_round_trip_resumes_the_paused_run(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    model = script(Call("get_weather", {"city": "Oslo"}, id="call_w1"), lambda m, _i: f"It is {_returned(m).content}.")
    await define("weather", model.model)
    first = await sdk.chat.completions.create(
        model="weather", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=[WEATHER]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_w1", "get_weather", '{"city":"Oslo"}')
    second = await sdk.chat.completions.create(
        model="weather",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            choice.message.model_dump(exclude_none=True),  # pyright: ignore[reportArgumentType]
            {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].message.content == "It is sunny."
    assert second.choices[0].finish_reason == "stop"
    run = (await client.get(f"/runs/{second.id}", headers=user_headers)).json()
    assert run["parent_run_id"] == first.id
    assert len(model.requests) == 2


async def test_tool_round_trip_retried_with_the_same_key(sdk: openai.AsyncOpenAI, define: Define) -> None:
    model = script(Call("get_weather", {"city": "Oslo"}, id="call_k1"), lambda m, _i: f"It is {_returned(m).content}.")
    await define("weather", model.model)
    hi = {"role": "user", "content": "Weather in Oslo?"}
    first = await sdk.chat.completions.create(model="weather", messages=[hi], tools=[WEATHER])  # pyright: ignore[reportArgumentType]
    follow_up = [
        hi,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_k1", "content": "sunny"},
    ]
    key = {"Idempotency-Key": "tool-answer-1"}
    answers = [
        await sdk.chat.completions.create(model="weather", messages=follow_up, tools=[WEATHER], extra_headers=key)  # pyright: ignore[reportArgumentType]
        for _ in range(2)
    ]
    assert answers[0].id == answers[1].id
    assert answers[1].choices[0].message.content == "It is sunny."
    assert len(model.requests) == 2  # the retry did not call the model again


async def test_tool_results_without_a_paused_run_become_history(sdk: openai.AsyncOpenAI, define: Define) -> None:
    model = script(lambda m, _i: f"It is {_returned(m).content}.")
    await define("weather", model.model)
    answer = await sdk.chat.completions.create(
        model="weather",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "elsewhere", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "elsewhere", "content": "rainy"},
        ],
        tools=[WEATHER],
    )
    assert answer.choices[0].message.content == "It is rainy."
    first_request = model.requests[0][0][0]
    assert isinstance(first_request, ModelRequest)
    assert isinstance(first_request.parts[0], UserPromptPart)


async def test_streams(sdk: openai.AsyncOpenAI, define: Define) -> None:
    await define("greeter", script("Hello there friend").model)
    stream = await sdk.chat.completions.create(
        model="greeter",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there friend"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    await define("weather", script(Call("get_weather", {"city": "Oslo"}, id="call_s1")).model)
    stream = await sdk.chat.completions.create(
        model="weather", messages=[{"role": "user", "content": "Oslo?"}], tools=[WEATHER], stream=True
    )
    chunks = [chunk async for chunk in stream]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [(c.id, c.function and c.function.name) for c in calls] == [("call_s1", "get_weather")]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # the SDK's stream helper assembles the same answer
    hi = [{"role": "user", "content": "Oslo?"}]
    async with sdk.chat.completions.stream(model="weather", messages=hi, tools=[WEATHER]) as helper:  # pyright: ignore[reportArgumentType]
        final = await helper.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.arguments) for c in final.choices[0].message.tool_calls or []] == [
        ("call_s1", '{"city":"Oslo"}')
    ]


async def test_structured_output_is_the_content(sdk: openai.AsyncOpenAI, define: Define) -> None:
    schema = {"type": "object", "properties": {"risk": {"type": "integer"}}, "required": ["risk"]}
    await define("judge", script(Out({"risk": 3})).model, output_schema=schema)
    answer = await sdk.chat.completions.create(
        model="judge",
        messages=[{"role": "user", "content": "Judge"}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert answer.choices[0].message.content == '{"risk":3}'
    stream = await sdk.chat.completions.create(
        model="judge", messages=[{"role": "user", "content": "Judge"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == '{"risk":3}'
