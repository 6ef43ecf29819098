"""`/v1/models` and the ordinary-run guarantees of `/v1` runs (listed, idempotent, bounded)."""

import httpx
import openai
import pytest
from openai.types import Model

from app.config import Settings
from tests.runs.conftest import Define
from tests.runs.scripts import Call, Sleep, script
from tests.waits import wait_for_status


async def test_models_are_the_agents_you_may_run(
    sdk: openai.AsyncOpenAI, define: Define, other_headers: dict[str, str]
) -> None:
    await define("mine", script("Hi").model)
    await define("theirs", script("Hi").model, headers=other_headers)
    await define("shared-one", script("Hi").model, headers=other_headers, scope="shared")
    models = [model async for model in sdk.models.list()]
    assert all(isinstance(m, Model) for m in models)
    assert sorted((m.id, m.owned_by) for m in models) == [("mine", "you"), ("shared-one", "shared")]
    assert (await sdk.models.retrieve("mine")).id == "mine"


async def test_pinned_version(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    await define("greeter", script("Hi").model)
    definition = {"name": "greeter", "model": "test", "instructions": "Be long."}
    assert (await client.put("/agents/greeter", json=definition, headers=user_headers)).status_code == 200
    answer = await sdk.chat.completions.create(model="greeter@1", messages=[{"role": "user", "content": "Hi"}])
    run = (await client.get(f"/runs/{answer.id}", headers=user_headers)).json()
    assert run["agent"]["version"] == 1
    with pytest.raises(openai.NotFoundError):
        await sdk.chat.completions.create(model="greeter@9", messages=[{"role": "user", "content": "Hi"}])


async def test_idempotency_key(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    model = script("Once")
    await define("greeter", model.model)
    key = {"Idempotency-Key": "chat-1"}
    hi = [{"role": "user", "content": "Hi"}]
    first = await sdk.chat.completions.create(model="greeter", messages=hi, extra_headers=key)  # pyright: ignore[reportArgumentType]
    again = await sdk.chat.completions.create(model="greeter", messages=hi, extra_headers=key)  # pyright: ignore[reportArgumentType]
    assert again.id == first.id
    assert len(model.requests) == 1
    with pytest.raises(openai.ConflictError):
        await sdk.chat.completions.create(
            model="greeter", messages=[{"role": "user", "content": "Bye"}], extra_headers=key
        )  # pyright: ignore[reportArgumentType]
    listed = (await client.get("/runs", headers=user_headers)).json()["items"]
    assert [run["run_id"] for run in listed] == [first.id]


async def test_limits_bound_the_run(
    sdk: openai.AsyncOpenAI,
    define: Define,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    live_url: str,
    user_headers: dict[str, str],
) -> None:
    looping = script(Call("calculator", {"expression": "1+1"}))
    await define(
        "looper", looping.model, tools=[{"type": "builtin", "name": "calculator"}], usage_limits={"request_limit": 2}
    )
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await sdk.responses.create(model="looper", input="Loop")
    assert caught.value.code == "usage_limit_exceeded"
    await define("slow", script(Sleep(5)).model)
    monkeypatch.setattr(settings, "default_deadline_ms", 200)
    key = user_headers["Authorization"].removeprefix("Bearer ")
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0) as once:
        with pytest.raises(openai.APIStatusError) as late:
            await once.chat.completions.create(model="slow", messages=[{"role": "user", "content": "Hi"}])
    assert (late.value.status_code, late.value.code) == (504, "deadline_exceeded")
    assert late.value.response.headers["x-should-retry"] == "true"


async def test_streamed_run_cancelled_when_the_client_leaves(
    sdk: openai.AsyncOpenAI, define: Define, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    await define("slow", script(Sleep(30)).model)
    stream = await sdk.chat.completions.create(model="slow", messages=[{"role": "user", "content": "Hi"}], stream=True)
    first = await anext(aiter(stream))
    await stream.close()

    run = await wait_for_status(client, first.id, "cancelled", headers=user_headers)
    assert run["status"] == "cancelled"
