"""A model endpoint's own ``prices`` price its runs on the real provider path (a scripted upstream)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dirty_equals import IsPartialDict

from tests.doubles.axon import ENDPOINT, UPSTREAM_KEY, define_agent
from tests.doubles.openai_upstream import ScriptedUpstream, Text, ToolCall, ToolCalls, Usage, scripted_upstream

PRICES = {"input_per_mtok": 1.0, "output_per_mtok": 2.0, "cache_read_per_mtok": 0.5, "cache_write_per_mtok": None}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as server:
        yield server


async def _endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], upstream: ScriptedUpstream, method: str = "POST", **extra: Any
) -> dict[str, Any]:
    body = {"name": ENDPOINT, "base_url": upstream.base_url, "api_key": UPSTREAM_KEY, **extra}
    url = "/model-endpoints" if method == "POST" else f"/model-endpoints/{ENDPOINT}"
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_endpoint_prices_price_sync_and_streamed_runs(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    created = await _endpoint(client, admin_headers, upstream, prices=PRICES)
    assert created["prices"] == PRICES
    assert (await client.get(f"/model-endpoints/{ENDPOINT}", headers=admin_headers)).json()["prices"] == PRICES
    await define_agent(client, user_headers, "priced")
    upstream.script(Text("Hi.", usage=Usage(prompt_tokens=1000, completion_tokens=500)))
    sync = await client.post("/agents/priced/run", json={"input": "x"}, headers=user_headers)
    assert sync.json()["usage"] == IsPartialDict(input_tokens=1000, output_tokens=500, cost_usd=pytest.approx(0.002))
    upstream.script(Text("Hi.", usage=Usage(prompt_tokens=2000, completion_tokens=1000)))
    streamed = await client.post("/agents/priced/run/stream", json={"input": "x"}, headers=user_headers)
    assert '"cost_usd":0.004' in streamed.text.replace(" ", "")

    await _endpoint(client, admin_headers, upstream, method="PUT")  # prices removed: unknown again
    upstream.script(Text("Hi.", usage=Usage(prompt_tokens=1000, completion_tokens=500)))
    unpriced = await client.post("/agents/priced/run", json={"input": "x"}, headers=user_headers)
    assert unpriced.json()["usage"]["cost_usd"] is None


async def test_cost_limit_on_the_provider_path(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    await _endpoint(client, admin_headers, upstream, prices=PRICES)
    await define_agent(
        client, user_headers, "calc", tools=[{"type": "builtin", "name": "calculator"}],
        usage_limits={"cost_limit_usd": 0.001},
    )  # fmt: skip
    upstream.script(
        ToolCalls(ToolCall("calculator", {"expression": "6*7"}, id="c1"), usage=Usage(1000, 500)),
        Text("42", usage=Usage(1000, 500)),
    )
    response = await client.post("/agents/calc/run", json={"input": "6*7?"}, headers=user_headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_type"] == "UsageLimitExceeded"
    assert body["details"]["usage"] == IsPartialDict(requests=1, cost_usd=pytest.approx(0.002))
    assert len(upstream.requests) == 1


async def test_prices_are_validated(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    body = {"name": ENDPOINT, "base_url": upstream.base_url, "prices": {"input_per_mtok": -1, "output_per_mtok": 1}}
    response = await client.post("/model-endpoints", json=body, headers=admin_headers)
    assert (response.status_code, response.json()["error_type"]) == (422, "ValidationError")
    body["prices"] = {"input_per_mtok": 1}
    assert (await client.post("/model-endpoints", json=body, headers=admin_headers)).status_code == 422
