"""``GET /usage``: stored runs' usage grouped by agent, model, owner and day; owners see theirs only."""

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from tests.runs.conftest import Define


def priced(cost: str | None) -> FunctionModel:
    def answer(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        usage = RequestUsage(input_tokens=100, output_tokens=10, cache_read_tokens=40, cost=cost and Decimal(cost))
        return ModelResponse(parts=[TextPart("ok")], usage=usage)

    return FunctionModel(answer, model_name="m")


def row(key: str | None, runs: int, cost: float | None) -> dict[str, object]:
    return {
        "key": key,
        "runs": runs,
        "requests": runs,
        "input_tokens": 100 * runs,
        "output_tokens": 10 * runs,
        "total_tokens": 110 * runs,
        "cache_read_tokens": 40 * runs,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": pytest.approx(cost) if cost is not None else None,
    }


async def test_usage_grouped_and_scoped_to_the_caller(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
    admin_headers: dict[str, str],
    define: Define,
) -> None:
    await define("paid", priced("0.5"))
    await define("free", priced(None))
    await define("theirs", priced("1.0"), headers=other_headers)
    for agent, headers in [("paid", user_headers), ("paid", user_headers), ("free", user_headers)]:
        assert (await client.post(f"/agents/{agent}/run", json={"input": "x"}, headers=headers)).status_code == 200
    assert (await client.post("/agents/theirs/run", json={"input": "x"}, headers=other_headers)).status_code == 200

    mine = (await client.get("/usage", headers=user_headers)).json()
    assert (sorted(mine), mine["group_by"]) == (["from", "group_by", "items", "to"], "agent")
    assert mine["items"] == [row("free", 1, None), row("paid", 2, 1.0)]
    by_owner = (await client.get("/usage", params={"group_by": "owner"}, headers=admin_headers)).json()
    assert by_owner["items"] == [row("alice", 3, 1.0), row("mallory", 1, 1.0)]
    by_model = (await client.get("/usage", params={"group_by": "model"}, headers=user_headers)).json()
    assert by_model["items"] == [row("test", 3, 1.0)]  # the definitions' model reference
    today = dt.datetime.now(dt.UTC).date().isoformat()
    by_day = (await client.get("/usage", params={"group_by": "day"}, headers=admin_headers)).json()
    assert by_day["items"] == [row(today, 4, 2.0)]

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    window = await client.get("/usage", params={"from": later.isoformat()}, headers=user_headers)
    assert (window.status_code, window.json()["items"]) == (200, [])  # `from` after `to` (now): an empty window
    empty = await client.get(
        "/usage",
        params={"from": later.isoformat(), "to": (later + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()},
        headers=user_headers,
    )
    assert (empty.status_code, empty.json()["items"]) == (200, [])
    assert (await client.get("/usage", params={"group_by": "tool"}, headers=user_headers)).status_code == 422
    assert (await client.get("/usage")).status_code == 401
