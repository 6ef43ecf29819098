"""Sync runs over HTTP: results, structured output, history, budgets, deadlines, errors."""

from typing import Any

import httpx
import pytest
from dirty_equals import IsInt, IsList, IsPartialDict, IsStr
from fastapi import FastAPI
from pydantic_ai.messages import ModelRequest

from tests.runs.conftest import Define
from tests.runs.scripts import Call, Out, Sleep, script

RISK_SCHEMA = {
    "type": "object",
    "properties": {"advice": {"type": "string"}, "risk": {"type": "integer", "minimum": 0, "maximum": 10}},
    "required": ["advice", "risk"],
    "additionalProperties": False,
}
USAGE = {
    "requests": IsInt,
    "input_tokens": IsInt,
    "output_tokens": IsInt,
    "total_tokens": IsInt,
    "tool_calls": IsInt,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
    "cost_usd": None,
}


async def test_sync_run_with_structured_output(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    agent = await define("risk", script(Out({"advice": "Block it.", "risk": 8})).model, output_schema=RISK_SCHEMA)
    response = await client.post("/agents/risk/run", json={"input": "Card stolen"}, headers=user_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "run_id": IsStr(),
        "status": "completed",
        "agent": {"id": agent["id"], "name": "risk", "version": 1, "spec_hash": agent["spec_hash"]},
        "output": {"advice": "Block it.", "risk": 8},
        "usage": {**USAGE, "requests": 1},
        "messages": IsList(length=3),
        "deferred": None,
        "started_at": IsStr(),
        "finished_at": IsStr(),
        "duration_ms": IsInt(ge=0),
    }
    stored = await client.get(f"/runs/{body['run_id']}", headers=user_headers)
    assert stored.json() == {
        **body,
        "error": None,
        "input": "Card stolen",
        "parent_run_id": None,
        "resumed_by": None,
        "session_id": None,
        "metadata": None,
        "worker": app.state.background.executor_id,
        "created_at": IsStr(),
        "first_token_at": IsStr(),
    }


async def test_schema_violation_goes_back_to_the_model(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Out({"advice": "Hm", "risk": 11}), Out({"advice": "Block it.", "risk": 9}))
    await define("risk", model.model, output_schema=RISK_SCHEMA)
    response = await client.post("/agents/risk/run", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"advice": "Block it.", "risk": 9}
    assert len(model.requests) == 2
    retry_prompt = str(model.requests[1][0][-1])
    assert "11 is greater than the maximum of 10" in retry_prompt


async def test_schema_violation_exhausted_fails_with_details(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Out({"advice": "Hm", "risk": 11}))
    await define("risk", model.model, output_schema=RISK_SCHEMA, retries={"output": 1})
    response = await client.post("/agents/risk/run", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 502, response.text
    body = response.json()
    assert body == {
        "status": "error",
        "error_type": "OutputValidationFailed",
        "message": IsStr(),
        "details": IsPartialDict(errors=IsList(length=1), raw_output={"advice": "Hm", "risk": 11}, usage=USAGE),
        "retryable": True,
        "retry_after": None,
        "run_id": IsStr(),
        "request_id": IsStr(),
    }
    assert "11 is greater than the maximum of 10" in str(body["details"]["errors"])
    assert len(model.requests) == 2
    stored = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert stored["status"] == "failed"
    assert stored["error"] == body  # the stored envelope carries the id of the request that ran it


@pytest.mark.parametrize("mode", ["tool", "native", "prompted"])
async def test_every_output_mode(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define, mode: str
) -> None:
    model = script(Out({"advice": "x", "risk": 99}), Out({"advice": "ok", "risk": 3}))
    await define("risk", model.model, output_schema=RISK_SCHEMA, output_mode=mode)
    response = await client.post("/agents/risk/run", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"advice": "ok", "risk": 3}
    assert [info.model_request_parameters.output_mode for _, info in model.requests] == [mode, mode]


async def test_deps_render_into_instructions(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script("Hello Ada.")
    await define("greeter", model.model, instructions="The customer is {{customer_name}}.")
    response = await client.post(
        "/agents/greeter/run", json={"input": "hi", "deps": {"customer_name": "Ada"}}, headers=user_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["output"] == "Hello Ada."
    request = model.requests[0][0][-1]
    assert isinstance(request, ModelRequest)
    assert "The customer is Ada." in (request.instructions or "")


async def test_history_in_new_messages_out(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script("First answer.", lambda messages, _info: f"I have seen {len(messages)} messages.")
    await define("chat", model.model)
    first = (await client.post("/agents/chat/run", json={"input": "one"}, headers=user_headers)).json()
    second = await client.post(
        "/agents/chat/run", json={"input": "two", "message_history": first["messages"]}, headers=user_headers
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["output"] == "I have seen 3 messages."
    assert [m["kind"] for m in body["messages"]] == ["request", "response"]
    assert body["messages"][0]["parts"][0]["content"] == "two"


async def test_malformed_history_is_422_naming_the_problem(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("chat", script("x").model)
    history: list[dict[str, Any]] = [{"kind": "request", "parts": [{"part_kind": "nonsense"}]}]
    response = await client.post(
        "/agents/chat/run", json={"input": "x", "message_history": history}, headers=user_headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error_type"] == "ValidationError"
    assert "message_history" in body["message"]
    assert body["details"]["errors"][0]["loc"][:5] == ["body", "message_history", 0, "request", "parts"]


async def test_history_and_session_together_is_422(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("chat", script("x").model)
    response = await client.post(
        "/agents/chat/run", json={"input": "x", "message_history": [], "session_id": "s"}, headers=user_headers
    )
    assert (response.status_code, response.json()["error_type"]) == (422, "ValidationError")


async def test_request_tightens_usage_limits(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Call("calculator", {"expression": "1+1"}), "Two.")
    await define(
        "calc", model.model, tools=[{"type": "builtin", "name": "calculator"}], usage_limits={"request_limit": 5}
    )
    response = await client.post(
        "/agents/calc/run", json={"input": "1+1?", "usage_limits": {"request_limit": 1}}, headers=user_headers
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_type"] == "UsageLimitExceeded"
    assert body["details"]["usage"] == {**USAGE, "requests": 1, "tool_calls": 1}
    assert len(model.requests) == 1


async def test_looser_request_limit_is_clamped_to_the_definition(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Call("calculator", {"expression": "1+1"}), "Two.")
    await define(
        "calc", model.model, tools=[{"type": "builtin", "name": "calculator"}], usage_limits={"request_limit": 1}
    )
    response = await client.post(
        "/agents/calc/run", json={"input": "1+1?", "usage_limits": {"request_limit": 10}}, headers=user_headers
    )
    assert (response.status_code, response.json()["error_type"]) == (422, "UsageLimitExceeded")


async def test_deadline_exceeded(client: httpx.AsyncClient, user_headers: dict[str, str], define: Define) -> None:
    await define("slow", script(Sleep(5)).model)
    response = await client.post("/agents/slow/run", json={"input": "x", "deadline_ms": 200}, headers=user_headers)
    assert response.status_code == 504, response.text
    body = response.json()
    assert (body["error_type"], body["retryable"]) == ("DeadlineExceeded", True)
    assert body["details"]["usage"] == USAGE
    stored = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert (stored["status"], stored["error"]["error_type"]) == ("failed", "DeadlineExceeded")


async def test_deadline_above_the_maximum_is_422(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("chat", script("x").model)
    response = await client.post("/agents/chat/run", json={"input": "x", "deadline_ms": 10**9}, headers=user_headers)
    assert (response.status_code, response.json()["error_type"]) == (422, "ValidationError")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": "x", "model_settings": {"extra_headers": {"x": "y"}}}, "model_settings"),
        ({"input": "x", "unknown": 1}, "unknown"),
        ({"input": [{"kind": "image-url", "url": "http://169.254.169.254/"}]}, "input"),
    ],
)
async def test_invalid_bodies_are_422(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define, body: dict[str, Any], field: str
) -> None:
    await define("chat", script("x").model)
    response = await client.post("/agents/chat/run", json=body, headers=user_headers)
    assert (response.status_code, response.json()["error_type"]) == (422, "ValidationError")
    assert field in response.text


async def test_unknown_agent_and_missing_auth(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    missing = await client.post("/agents/nope/run", json={"input": "x"}, headers=user_headers)
    assert (missing.status_code, missing.json()["error_type"]) == (404, "NotFound")
    anonymous = await client.post("/agents/nope/run", json={"input": "x"})
    assert (anonymous.status_code, anonymous.json()["error_type"]) == (401, "Unauthorized")


async def test_wait_ms_answers_202_and_the_run_goes_on(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("slow", script(Sleep(0.3, "Finally.")).model)
    response = await client.post("/agents/slow/run?wait_ms=10", json={"input": "x"}, headers=user_headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"run_id": IsStr(), "status": "running", "events_url": f"/runs/{body['run_id']}/events"}
    running = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert running["status"] == "running"
    events = await client.get(body["events_url"], headers=user_headers)
    assert "event: run.completed" in events.text
    done = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert (done["status"], done["output"]) == ("completed", "Finally.")
