"""`/v1/responses` (Open Responses) through the official SDK."""

import asyncio

import httpx
import openai
from openai.types.responses import Response, ResponseItemList, ResponseStreamEvent
from pydantic import TypeAdapter
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolReturnPart, UserPromptPart

from tests.runs.conftest import Define
from tests.runs.scripts import Call, Sleep, script
from tests.waits import wait_for_status

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": False,
}
EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def _returned(messages: list[object]) -> ToolReturnPart:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    part = request.parts[-1]
    assert isinstance(part, ToolReturnPart)
    return part


async def test_text_response(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str], live_url: str
) -> None:
    model = script("Hello there friend")
    await define("greeter", model.model)
    response = await sdk.responses.create(
        model="greeter", input="Hi", instructions="Speak like a pirate.", temperature=0.3
    )
    assert isinstance(response, Response)
    assert response.status == "completed"
    assert response.output_text == "Hello there friend"
    assert response.usage is not None
    assert response.usage.total_tokens > 0
    assert response.instructions == "Speak like a pirate."
    assert response.temperature == 0.3
    assert model.requests[0][1].instructions == "Speak like a pirate.\n\nBe brief."
    again = await sdk.responses.retrieve(response.id)
    assert again.model_dump() == response.model_dump()
    items = await sdk.responses.input_items.list(response.id)
    assert [(i.type, getattr(i, "role", None)) for i in items.data] == [("message", "user")]
    run = (await client.get(f"/runs/{response.id}", headers=user_headers)).json()
    assert run["status"] == "completed"
    # The SDK builds its objects without validation: check the raw JSON against its types ourselves.
    async with httpx.AsyncClient(base_url=live_url, headers=user_headers) as raw:
        created = (await raw.post("/v1/responses", json={"model": "greeter", "input": "Hi"})).json()
        Response.model_validate(created, strict=False)
        assert set(REQUIRED) <= set(created)
        fetched = (await raw.get(f"/v1/responses/{created['id']}")).json()
        assert fetched == created
        items = (await raw.get(f"/v1/responses/{created['id']}/input_items")).json()
        ResponseItemList.model_validate(items)


async def test_function_call_round_trip_and_previous_response(sdk: openai.AsyncOpenAI, define: Define) -> None:
    model = script(
        Call("get_weather", {"city": "Oslo"}, id="call_r1"),
        lambda m, _i: f"It is {_returned(m).content}.",
        "You asked about Oslo.",
    )
    await define("weather", model.model)
    first = await sdk.responses.create(model="weather", input="Weather in Oslo?", tools=[WEATHER])  # pyright: ignore[reportArgumentType]
    assert first.status == "completed"
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [("call_r1", "get_weather", '{"city":"Oslo"}')]
    second = await sdk.responses.create(
        model="weather",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_r1", "output": "sunny"}],
        tools=[WEATHER],  # pyright: ignore[reportArgumentType]
    )
    assert second.output_text == "It is sunny."
    assert second.previous_response_id == first.id
    third = await sdk.responses.create(model="weather", previous_response_id=second.id, input="What did I ask?")
    assert third.output_text == "You asked about Oslo."
    history = model.requests[2][0]
    assert isinstance(history[0], ModelRequest)
    assert isinstance(history[0].parts[0], UserPromptPart)
    assert history[0].parts[0].content == "Weather in Oslo?"
    assert sum(isinstance(m, ModelResponse) for m in history) == 2


async def test_stream_events(
    sdk: openai.AsyncOpenAI, define: Define, live_url: str, user_headers: dict[str, str]
) -> None:
    await define("greeter", script("Hello there friend").model)
    stream = await sdk.responses.create(model="greeter", input="Hi", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello there friend"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "Hello there friend"
    # the raw wire validates against the SDK's event union too
    async with httpx.AsyncClient(base_url=live_url) as raw:
        body = {"model": "greeter", "input": "Hi", "stream": True}
        async with raw.stream("POST", "/v1/responses", json=body, headers=user_headers) as answer:
            lines = [line async for line in answer.aiter_lines() if line.startswith("data: ")]
    for line in lines:
        EVENTS.validate_json(line.removeprefix("data: "))
    # a function call streams as its own output item; the SDK's stream helper assembles it
    await define("weather", script(Call("get_weather", {"city": "Oslo"}, id="call_st1")).model)
    async with sdk.responses.stream(model="weather", input="Oslo?", tools=[WEATHER]) as helper:  # pyright: ignore[reportArgumentType]
        kinds = [event.type async for event in helper]
        final = await helper.get_final_response()
    assert kinds[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [(item.type, getattr(item, "arguments", None)) for item in final.output] == [
        ("function_call", '{"city":"Oslo"}')
    ]


async def test_background_and_cancel(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    await define("slow", script(Sleep(30)).model)
    response = await sdk.responses.create(model="slow", input="Take your time", background=True)
    assert response.status == "queued"
    assert response.background is True
    await wait_for_status(client, response.id, "running", headers=user_headers)
    cancelled = await sdk.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert (await sdk.responses.retrieve(response.id)).status == "cancelled"


async def test_background_runs(sdk: openai.AsyncOpenAI, define: Define) -> None:
    await define("greeter", script("Done in the background").model)
    response = await sdk.responses.create(model="greeter", input="Hi", background=True)
    for _ in range(300):
        response = await sdk.responses.retrieve(response.id)
        if response.status == "completed":
            break
        await asyncio.sleep(0.02)
    assert response.output_text == "Done in the background"
    items = await sdk.responses.input_items.list(response.id)
    assert [item.type for item in items.data] == ["message"]
    await define("weather", script(Call("get_weather", {"city": "Oslo"}, id="call_b1")).model)
    response = await sdk.responses.create(model="weather", input="Oslo?", tools=[WEATHER], background=True)  # pyright: ignore[reportArgumentType]
    for _ in range(300):
        response = await sdk.responses.retrieve(response.id)
        if response.status != "queued" and response.status != "in_progress":
            break
        await asyncio.sleep(0.02)
    assert response.status == "completed"
    assert [(item.type, getattr(item, "call_id", None)) for item in response.output] == [("function_call", "call_b1")]
    assert [tool.type for tool in response.tools] == ["function"]


REQUIRED = (
    "id",
    "object",
    "created_at",
    "completed_at",
    "status",
    "incomplete_details",
    "model",
    "previous_response_id",
    "instructions",
    "output",
    "error",
    "tools",
    "tool_choice",
    "truncation",
    "parallel_tool_calls",
    "text",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "temperature",
    "reasoning",
    "usage",
    "max_output_tokens",
    "max_tool_calls",
    "store",
    "background",
    "service_tier",
    "metadata",
    "safety_identifier",
    "prompt_cache_key",
)
