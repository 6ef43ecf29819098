"""Usage carries cache, reasoning and cost; ``usage_limits.cost_limit_usd`` bounds a run; sub-runs roll up."""

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ModelResponsePart, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from tests.runs.conftest import Define

CALCULATOR = {"type": "builtin", "name": "calculator"}
PRICE = Decimal("0.0125")


def priced(first: ModelResponsePart, then: str = "Done.") -> FunctionModel:
    """Plays ``first``, then answers ``then`` once a tool returned; every response costs `PRICE`."""

    def answer(messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        returned = any(isinstance(p, ToolReturnPart) for m in messages for p in getattr(m, "parts", []))
        usage = RequestUsage(
            input_tokens=100, output_tokens=20, cache_read_tokens=30, cache_write_tokens=5,
            output_reasoning_tokens=7, cost=PRICE,
        )  # fmt: skip
        return ModelResponse(parts=[TextPart(then) if returned else first], usage=usage)

    return FunctionModel(answer, model_name="priced-model")


USAGE_OF_ONE = {
    "requests": 1,
    "input_tokens": 100,
    "output_tokens": 20,
    "total_tokens": 120,
    "tool_calls": 0,
    "cache_read_tokens": 30,
    "cache_write_tokens": 5,
    "reasoning_tokens": 7,
    "cost_usd": 0.0125,
}


async def test_usage_reports_cache_reasoning_and_cost(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("priced", priced(TextPart("Hi.")))
    response = await client.post("/agents/priced/run", json={"input": "x"}, headers=user_headers)
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == USAGE_OF_ONE
    stored = (await client.get(f"/runs/{response.json()['run_id']}", headers=user_headers)).json()
    assert stored["usage"] == USAGE_OF_ONE


async def test_unpriced_model_has_null_cost(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("free", FunctionModel(lambda _m, _i: ModelResponse(parts=[TextPart("ok")]), model_name="unknown-x"))
    response = await client.post("/agents/free/run", json={"input": "x"}, headers=user_headers)
    assert response.json()["usage"]["cost_usd"] is None


@pytest.mark.parametrize("where", ["request", "definition"])
async def test_cost_limit_stops_the_run_before_the_next_request(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define, where: str
) -> None:
    limit = {"cost_limit_usd": 0.01}
    calc = ToolCallPart("calculator", {"expression": "6*7"}, tool_call_id="c1")
    await define(
        "spender", priced(calc), tools=[CALCULATOR], **({"usage_limits": limit} if where == "definition" else {})
    )
    body = {"input": "x", **({"usage_limits": limit} if where == "request" else {})}
    response = await client.post("/agents/spender/run", json=body, headers=user_headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error_type"] == "UsageLimitExceeded"
    assert "cost_limit" in error["message"]
    assert error["details"]["usage"] == USAGE_OF_ONE  # checked as the response arrives: no tool ran


async def test_a_looser_cost_limit_is_clamped_and_a_loose_one_lets_the_run_finish(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    calc = ToolCallPart("calculator", {"expression": "6*7"}, tool_call_id="c1")
    await define("spender", priced(calc), tools=[CALCULATOR], usage_limits={"cost_limit_usd": 0.01})
    clamped = await client.post(
        "/agents/spender/run", json={"input": "x", "usage_limits": {"cost_limit_usd": 5}}, headers=user_headers
    )
    assert clamped.json()["error_type"] == "UsageLimitExceeded"
    await define("rich", priced(calc), tools=[CALCULATOR], usage_limits={"cost_limit_usd": 1})
    done = await client.post("/agents/rich/run", json={"input": "x"}, headers=user_headers)
    assert done.status_code == 200, done.text
    assert done.json()["usage"]["cost_usd"] == pytest.approx(0.025)


async def test_sub_run_usage_and_cost_roll_up_into_the_parent(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    async def desk_stream(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        yield "Blocked."  # a sub-run streams; its tokens are estimated and it has no price

    await define("desk", FunctionModel(stream_function=desk_stream, model_name="desk-model"))
    ask = ToolCallPart("ask_desk", {"input": "block card 42"}, tool_call_id="a1")
    tool = {"type": "agent", "name": "ask_desk", "agent": "desk", "description": "Ask the desk."}
    await define("support", priced(ask), tools=[tool])
    response = await client.post("/agents/support/run", json={"input": "stolen card"}, headers=user_headers)
    assert response.status_code == 200, response.text
    parent = response.json()
    runs = (await client.get("/runs", params={"agent": "desk"}, headers=user_headers)).json()["items"]
    [child] = [run for run in runs if run["parent_run_id"] == parent["run_id"]]
    own = {"requests": 2, "input_tokens": 200, "output_tokens": 40, "tool_calls": 1, "cache_read_tokens": 60}
    assert child["usage"]["cost_usd"] is None
    assert child["usage"]["input_tokens"] > 0
    assert parent["usage"] == {
        "requests": own["requests"] + child["usage"]["requests"],
        "input_tokens": own["input_tokens"] + child["usage"]["input_tokens"],
        "output_tokens": own["output_tokens"] + child["usage"]["output_tokens"],
        "total_tokens": 240 + child["usage"]["total_tokens"],
        "tool_calls": 1,
        "cache_read_tokens": 60,
        "cache_write_tokens": 10,
        "reasoning_tokens": 14,
        "cost_usd": pytest.approx(0.025),  # the known part: the child's price is unknown
    }
