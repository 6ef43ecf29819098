"""Background runs in one process (both backends): queue, events replay, cancel in every state, admission."""

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from dirty_equals import IsDatetime, IsInt, IsStr
from fastapi import FastAPI

from app.config import Settings
from app.db import Database
from app.runs import queries
from tests.runs.conftest import Define
from tests.runs.scripts import Call, Sleep, script
from tests.runs.sse import SSEEvent, names, read_sse
from tests.waits import until, wait_for_status


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shared app polls the queue fast and runs one run per owner at a time; ``indirect`` adds knobs."""
    assert (settings.queue_poll_seconds, settings.max_concurrent_runs_per_owner) == (0.05, 1)
    extra: dict[str, Any] = getattr(request, "param", {})
    for name, value in extra.items():
        monkeypatch.setattr(settings, name, value)
    return settings


async def _start(client: httpx.AsyncClient, headers: dict[str, str], agent: str, **body: Any) -> str:
    response = await client.post(f"/agents/{agent}/runs", json={"input": "hi", **body}, headers=headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted == {"run_id": IsStr(), "status": "queued", "events_url": f"/runs/{accepted['run_id']}/events"}
    return accepted["run_id"]


async def _events(client: httpx.AsyncClient, headers: dict[str, str], run_id: str, **params: Any) -> list[SSEEvent]:
    async with (
        asyncio.timeout(15),
        client.stream("GET", f"/runs/{run_id}/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200
        return await read_sse(response)


async def test_background_run_completes_and_replays(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define(
        "bg",
        script(Call("calculator", {"expression": "6*7"}), "the answer is 42").model,
        tools=[{"type": "builtin", "name": "calculator"}],
    )
    run_id = await _start(client, user_headers, "bg", metadata={"job": 1})

    events = await _events(client, user_headers, run_id)

    assert names(events) == ["run.started", "tool.call", "tool.result", "text.delta", "run.completed"]
    assert [e.id for e in events] == ["1", "2", "3", "4", "5"]
    assert events[-1].data["output"] == "the answer is 42"
    run = (await client.get(f"/runs/{run_id}", headers=user_headers)).json()
    assert run | {"messages": []} == run | {
        "status": "completed",
        "output": "the answer is 42",
        "usage": {
            "requests": 2,
            "input_tokens": IsInt(),
            "output_tokens": IsInt(),
            "total_tokens": IsInt(),
            "tool_calls": 1,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": None,
        },
        "worker": app.state.background.executor_id,
        "metadata": {"job": 1},
        "started_at": IsDatetime(iso_string=True),
        "finished_at": IsDatetime(iso_string=True),
        "messages": [],
    }
    # From the middle, by query or by header; the same numbering.
    assert [e.id for e in await _events(client, user_headers, run_id, after=3)] == ["4", "5"]
    async with client.stream(
        "GET", f"/runs/{run_id}/events", headers={**user_headers, "Last-Event-ID": "4"}
    ) as response:
        assert [e.id for e in await read_sse(response)] == ["5"]


async def test_replay_of_pruned_events_is_a_typed_error(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("short", script("done").model)
    run_id = await _start(client, user_headers, "short")
    await _events(client, user_headers, run_id)
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        assert await queries.prune_events(session, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 3

    response = await client.get(f"/runs/{run_id}/events", params={"after": 1}, headers=user_headers)

    assert response.status_code == 409
    assert response.json() | {"request_id": None} == {
        "status": "error",
        "error_type": "Conflict",
        "message": IsStr(),
        "details": {"after": 1, "first_available_seq": None, "last_seq": 3},
        "retryable": False,
        "retry_after": None,
        "run_id": run_id,
        "request_id": None,
    }
    # Nothing missing after the last event: an empty, well-formed replay is fine.
    assert await _events(client, user_headers, run_id, after=3) == []


async def test_cancel_queued_running_and_finished(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    """Per-owner concurrency is 1: the second run waits in the queue while the first one thinks."""
    slow = script(Sleep(30, "never"))
    await define("slow", slow.model)
    first = await _start(client, user_headers, "slow")
    await wait_for_status(client, first, "running", headers=user_headers)
    second = await _start(client, user_headers, "slow")
    await asyncio.sleep(0.3)  # several queue polls (0.05 s): a wrongly started run would be running by now
    assert (await client.get(f"/runs/{second}", headers=user_headers)).json()["status"] == "queued"

    queued = await client.post(f"/runs/{second}/cancel", headers=user_headers)
    assert (queued.status_code, queued.json()["status"]) == (200, "cancelled")
    assert names(await _events(client, user_headers, second)) == ["run.cancelled"]

    async def thinking() -> bool:
        return bool(slow.requests)

    await until(thinking)
    running = await client.post(f"/runs/{first}/cancel", headers=user_headers)
    # 200 once stopped; on a loaded machine possibly 202 `cancel_pending` first (bounded wait).
    assert (running.status_code, running.json()["status"]) in {(200, "cancelled"), (202, "cancel_pending")}
    stopped = await wait_for_status(client, first, "cancelled", headers=user_headers)
    assert (stopped["error"], stopped["usage"]["requests"]) == (None, 0)
    assert names(await _events(client, user_headers, first)) == ["run.started", "run.cancelled"]
    again = await client.post(f"/runs/{first}/cancel", headers=user_headers)
    assert (again.status_code, again.json()) == (200, stopped)

    await define("quick", script("ok").model)
    done = await _start(client, user_headers, "quick")
    await wait_for_status(client, done, "completed", headers=user_headers)
    finished = await client.post(f"/runs/{done}/cancel", headers=user_headers)
    assert finished.status_code == 409
    assert (finished.json()["error_type"], finished.json()["details"]) == ("Conflict", {"status": "completed"})


async def test_cancel_requires_action_clears_pending_calls(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    tool = {"type": "external", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    await define("asks", script(Call("lookup", {})).model, tools=[tool])
    run_id = await _start(client, user_headers, "asks")
    paused = await wait_for_status(client, run_id, "requires_action", headers=user_headers)
    assert paused["deferred"]["calls"][0]["tool_name"] == "lookup"

    cancelled = await client.post(f"/runs/{run_id}/cancel", headers=user_headers)

    assert (cancelled.status_code, cancelled.json()["status"], cancelled.json()["deferred"]) == (200, "cancelled", None)
    before = await _events(client, user_headers, run_id)  # the stream of the pause ends at its terminal event
    assert names(before)[-1] == "run.requires_action"
    assert names(await _events(client, user_headers, run_id, after=before[-1].id)) == ["run.cancelled"]
    resume = await client.post(f"/runs/{run_id}/resume", json={"tool_results": {"call-1": 1}}, headers=user_headers)
    assert resume.status_code == 409


async def test_other_owner_cannot_see_or_cancel(
    client: httpx.AsyncClient, user_headers: dict[str, str], other_headers: dict[str, str], define: Define
) -> None:
    await define("mine", script("ok").model)
    run_id = await _start(client, user_headers, "mine")
    for method, path in [("POST", f"/runs/{run_id}/cancel"), ("GET", f"/runs/{run_id}/events")]:
        response = await client.request(method, path, headers=other_headers)
        assert (response.status_code, response.json()["error_type"]) == (404, "NotFound")


@pytest.mark.parametrize("settings", [{"max_queued_runs": 0}], indirect=True)
async def test_backlog_cap_answers_overloaded(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("any", script("ok").model)
    response = await client.post("/agents/any/runs", json={"input": "hi"}, headers=user_headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() | {"request_id": None, "message": None} == {
        "status": "error",
        "error_type": "Overloaded",
        "message": None,
        "details": {"queued": 0},
        "retryable": True,
        "retry_after": 1.0,
        "run_id": None,
        "request_id": None,
    }
