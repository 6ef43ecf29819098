"""SSE runs over ASGI: the event vocabulary, numbering and exactly one terminal event."""

from typing import Any

import fastapi.routing
import httpx
import pytest
from dirty_equals import IsInt, IsPartialDict, IsStr

from tests.runs.conftest import Define
from tests.runs.scripts import Call, Out, Sleep, script
from tests.runs.sse import SSEEvent, iter_sse, names, read_sse
from tests.runs.test_sync import RISK_SCHEMA

TERMINAL = {"run.completed", "run.requires_action", "run.failed", "run.cancelled"}


def assert_well_formed(events: list[SSEEvent]) -> None:
    """Ids from 1 without gaps, run_id and seq in every data, exactly one terminal event, last."""
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    run_ids = {e.data["run_id"] for e in events}
    assert len(run_ids) == 1
    assert all(e.data["seq"] == int(e.id or 0) for e in events)
    assert [e.event in TERMINAL for e in events].count(True) == 1
    assert events[-1].event in TERMINAL


async def stream(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[SSEEvent]:
    async with client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return await read_sse(response)


async def test_tool_calling_stream_event_list(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    agent = await define(
        "calc",
        script(Call("calculator", {"expression": "6*7"}), "It is 42.").model,
        tools=[{"type": "builtin", "name": "calculator"}],
    )
    events = await stream(client, "/agents/calc/run/stream", {"input": "6*7?"}, user_headers)
    assert_well_formed(events)
    run_id = events[0].data["run_id"]
    common = {"run_id": run_id}
    assert [(e.event, e.data) for e in events] == [
        (
            "run.started",
            {
                **common,
                "seq": 1,
                "agent": {"id": agent["id"], "name": "calc", "version": 1, "spec_hash": agent["spec_hash"]},
                "session_id": None,
            },
        ),
        (
            "tool.call",
            {**common, "seq": 2, "tool_call_id": "call-1", "tool_name": "calculator", "args": {"expression": "6*7"}},
        ),
        (
            "tool.result",
            {
                **common,
                "seq": 3,
                "tool_call_id": "call-1",
                "tool_name": "calculator",
                "content": 42,
                "outcome": "success",
            },
        ),
        ("text.delta", {**common, "seq": 4, "delta": "It"}),
        ("text.delta", {**common, "seq": 5, "delta": " is"}),
        ("text.delta", {**common, "seq": 6, "delta": " 42."}),
        (
            "run.completed",
            IsPartialDict(
                **common,
                seq=7,
                status="completed",
                output="It is 42.",
                usage=IsPartialDict(requests=2, tool_calls=1),
                duration_ms=IsInt(ge=0),
            ),
        ),
    ]
    stored = await client.get(f"/runs/{run_id}/events", headers=user_headers)
    assert [(e.id, e.event, e.data) for e in await read_sse(stored)] == [(e.id, e.event, e.data) for e in events]


async def test_structured_stream_has_output_deltas(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("risk", script(Out({"advice": "ok", "risk": 2})).model, output_schema=RISK_SCHEMA)
    events = await stream(client, "/agents/risk/run/stream", {"input": "?"}, user_headers)
    assert_well_formed(events)
    assert names(events) == ["run.started", "output.delta", "run.completed"]
    assert events[1].data["output"] == {"advice": "ok", "risk": 2}


async def test_failure_ends_the_stream_with_run_failed(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define(
        "risk", script(Out({"advice": "x", "risk": 11})).model, output_schema=RISK_SCHEMA, retries={"output": 0}
    )
    events = await stream(client, "/agents/risk/run/stream", {"input": "?"}, user_headers)
    assert_well_formed(events)
    failed = events[-1]
    assert failed.event == "run.failed"
    assert failed.data == IsPartialDict(
        status="error", error_type="OutputValidationFailed", retryable=True, run_id=IsStr(), seq=IsInt()
    )
    stored = (await client.get(f"/runs/{failed.data['run_id']}", headers=user_headers)).json()
    assert stored["error"] == {k: v for k, v in failed.data.items() if k != "seq"}


async def test_deadline_in_a_stream(client: httpx.AsyncClient, user_headers: dict[str, str], define: Define) -> None:
    await define("slow", script(Sleep(5)).model)
    events = await stream(client, "/agents/slow/run/stream", {"input": "x", "deadline_ms": 100}, user_headers)
    assert_well_formed(events)
    assert (events[-1].event, events[-1].data["error_type"]) == ("run.failed", "DeadlineExceeded")


async def test_errors_before_the_stream_are_plain_http(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("chat", script("x").model)
    bad = await client.post("/agents/chat/run/stream", json={"input": 1}, headers=user_headers)
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/json")
    missing = await client.post("/agents/none/run/stream", json={"input": "x"}, headers=user_headers)
    assert (missing.status_code, missing.json()["error_type"]) == (404, "NotFound")


async def test_ping_after_silence(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's own keep-alive interval (15 s in production), shortened: a third-party knob, not our code.
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.05)
    await define("slow", script(Sleep(0.3, "ok")).model)
    seen: list[SSEEvent] = []
    async with client.stream("POST", "/agents/slow/run/stream", json={"input": "x"}, headers=user_headers) as response:
        async for event in iter_sse(response, comments=True):
            seen.append(event)
    assert any(e.is_comment and e.comments == ["ping"] for e in seen)
    assert_well_formed([e for e in seen if not e.is_comment])
