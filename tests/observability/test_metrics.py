"""``GET /metrics`` through the real app: a run matrix, then one scrape parsed and compared."""

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from app.config import Settings
from tests.observability.scrape import delta, key, scrape
from tests.runs.conftest import Define
from tests.runs.scripts import Call, Sleep, script

CALCULATOR = {"type": "builtin", "name": "calculator"}


def priced_model() -> FunctionModel:
    """One answer whose usage a provider would report, with a known price."""

    def answer(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        usage = RequestUsage(
            input_tokens=100,
            output_tokens=20,
            cache_read_tokens=30,
            cache_write_tokens=5,
            output_reasoning_tokens=7,
            cost=Decimal("0.0125"),
        )
        return ModelResponse(parts=[TextPart("Priced.")], usage=usage)

    return FunctionModel(answer, model_name="priced-model")


async def _status(client: httpx.AsyncClient, headers: dict[str, str], run_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            body = (await client.get(f"/runs/{run_id}", headers=headers)).json()
            if body["status"] == status:
                return body
            await asyncio.sleep(0.02)


async def test_run_matrix_is_counted(client: httpx.AsyncClient, user_headers: dict[str, str], define: Define) -> None:
    await define("priced", priced_model())
    await define("calc", script(Call("calculator", {"expression": "6*7"}), "42").model, tools=[CALCULATOR])
    await define("slow", script(Sleep(30, "never")).model)
    before = await scrape(client)

    completed = await client.post("/agents/priced/run", json={"input": "price me"}, headers=user_headers)
    assert completed.status_code == 200, completed.text
    tool = await client.post("/agents/calc/run/stream", json={"input": "6*7?"}, headers=user_headers)
    assert tool.status_code == 200
    failed = await client.post("/agents/slow/run", json={"input": "x", "deadline_ms": 100}, headers=user_headers)
    assert failed.json()["error_type"] == "DeadlineExceeded"
    background = (await client.post("/agents/slow/runs", json={"input": "x"}, headers=user_headers)).json()
    await _status(client, user_headers, background["run_id"], "running")
    async with asyncio.timeout(15):  # "running" is stored just before its executor picks it up
        while (await scrape(client))[key("axon_runs_active")] != 1:  # noqa: ASYNC110 (another task's state)
            await asyncio.sleep(0.02)
    queued = (await client.post("/agents/slow/runs", json={"input": "y"}, headers=user_headers)).json()
    assert (await scrape(client))[key("axon_runs_queued")] == 1
    await client.post(f"/runs/{queued['run_id']}/cancel", headers=user_headers)
    await client.post(f"/runs/{background['run_id']}/cancel", headers=user_headers)
    await _status(client, user_headers, background["run_id"], "cancelled")

    after = await scrape(client)
    changed = delta(before, after)
    assert after[key("axon_runs_active")] == 0
    assert after[key("axon_runs_queued")] == 0
    runs = {k: v for k, v in changed.items() if k[0] == "axon_runs_total"}
    assert runs == {
        key("axon_runs_total", agent="priced", status="completed", error_type=""): 1,
        key("axon_runs_total", agent="calc", status="completed", error_type=""): 1,
        key("axon_runs_total", agent="slow", status="failed", error_type="DeadlineExceeded"): 1,
        key("axon_runs_total", agent="slow", status="cancelled", error_type="Cancelled"): 2,
    }
    durations = {k: v for k, v in changed.items() if k[0] == "axon_run_duration_seconds_count"}
    assert durations == {
        key("axon_run_duration_seconds_count", agent="priced", mode="sync"): 1,
        key("axon_run_duration_seconds_count", agent="calc", mode="stream"): 1,
        key("axon_run_duration_seconds_count", agent="slow", mode="sync"): 1,
        key("axon_run_duration_seconds_count", agent="slow", mode="background"): 1,
    }
    first_events = {k: v for k, v in changed.items() if k[0] == "axon_run_time_to_first_event_seconds_count"}
    assert first_events == {
        key("axon_run_time_to_first_event_seconds_count", agent="priced"): 1,
        key("axon_run_time_to_first_event_seconds_count", agent="calc"): 1,
    }
    priced = {k: v for k, v in changed.items() if ("model", "priced-model") in k[1]}
    assert priced == {
        key("axon_model_requests_total", model="priced-model"): 1,
        key("axon_tokens_total", model="priced-model", type="input"): 100,
        key("axon_tokens_total", model="priced-model", type="output"): 20,
        key("axon_tokens_total", model="priced-model", type="cache_read"): 30,
        key("axon_tokens_total", model="priced-model", type="cache_write"): 5,
        key("axon_tokens_total", model="priced-model", type="reasoning"): 7,
        key("axon_cost_usd_total", model="priced-model"): pytest.approx(0.0125),
    }
    assert changed[key("axon_model_requests_total", model="function:_respond:_stream")] == 2  # calc's two turns
    assert {k: v for k, v in changed.items() if k[0] == "axon_tool_calls_total"} == {
        key("axon_tool_calls_total", tool="calculator", outcome="success"): 1
    }
    for name, labels in after:
        assert not any(_looks_like_an_id(value) for _, value in labels), (name, labels)


def _looks_like_an_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return value.startswith("axk_")
    return True


async def test_http_requests_are_labelled_by_route_template(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    before = await scrape(client)
    run_id = uuid.uuid4()
    assert (await client.get(f"/runs/{run_id}", headers=user_headers)).status_code == 404
    assert (await client.get(f"/no/such/{run_id}")).status_code == 404
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.post("/health/live")).status_code == 405
    after = await scrape(client)
    requests = {k: v for k, v in delta(before, after).items() if k[0] == "axon_http_requests_total"}
    assert requests == {
        key("axon_http_requests_total", method="GET", route="/runs/{run_id}", status="404"): 1,
        key("axon_http_requests_total", method="GET", route="<unmatched>", status="404"): 1,
        key("axon_http_requests_total", method="GET", route="/health/live", status="200"): 1,
        key("axon_http_requests_total", method="POST", route="/health/live", status="405"): 1,
        key("axon_http_requests_total", method="GET", route="/metrics", status="200"): 1,  # the first scrape
    }
    latency = key("axon_http_request_duration_seconds_count", method="GET", route="/runs/{run_id}", status="404")
    assert after[latency] - before.get(latency, 0) == 1
    assert all(str(run_id) not in dict(labels).get("route", "") for _, labels in after)


class TestMetricsToken:
    @pytest.fixture
    def settings(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
        monkeypatch.setattr(settings, "metrics_token", SecretStr("scrape-secret"))  # the shared app's, undone after
        return settings

    async def test_metrics_need_the_token_when_one_is_set(
        self, client: httpx.AsyncClient, user_headers: dict[str, str]
    ) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}, user_headers):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401
            body = response.json()
            assert (body["status"], body["error_type"], body["retryable"]) == ("error", "Unauthorized", False)
            assert body["request_id"] == response.headers["x-request-id"]
            assert "scrape-secret" not in response.text
        samples = await scrape(client, {"Authorization": "Bearer scrape-secret"})
        assert key("axon_runs_active") in samples


async def test_metrics_are_open_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "# TYPE axon_runs_total counter" in response.text
