"""Idempotency, listing, disconnects: the run's life beyond one request."""

import asyncio

import httpx
import pytest

from app.runs.executor import RunExecutor
from tests.runs.conftest import Define
from tests.runs.scripts import Sleep, Slowly, script
from tests.runs.sse import iter_sse
from tests.waits import wait_for_status


async def test_same_key_same_body_returns_the_first_run(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script("Once.")
    await define("chat", model.model)
    headers = {**user_headers, "Idempotency-Key": "job-1"}
    first = await client.post("/agents/chat/run", json={"input": "x"}, headers=headers)
    second = await client.post("/agents/chat/run", json={"input": "x"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len(model.requests) == 1
    conflict = await client.post("/agents/chat/run", json={"input": "y"}, headers=headers)
    assert (conflict.status_code, conflict.json()["error_type"]) == (409, "Conflict")
    other_key = await client.post(
        "/agents/chat/run", json={"input": "x"}, headers={**user_headers, "Idempotency-Key": "job-2"}
    )
    assert other_key.json()["run_id"] != first.json()["run_id"]


async def test_a_repeat_attaches_to_the_running_run(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Sleep(0.3, "Slowly."))
    await define("slow", model.model)
    headers = {**user_headers, "Idempotency-Key": "job-3"}
    first, second = await asyncio.gather(
        client.post("/agents/slow/run", json={"input": "x"}, headers=headers),
        client.post("/agents/slow/run", json={"input": "x"}, headers=headers),
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(model.requests) == 1
    async with client.stream("POST", "/agents/slow/run/stream", json={"input": "x"}, headers=headers) as response:
        replayed = [e async for e in iter_sse(response)]
    assert replayed[-1].data["run_id"] == first.json()["run_id"]
    assert replayed[-1].event == "run.completed"
    assert len(model.requests) == 1


async def test_failed_run_repeat_answers_the_same_error(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Sleep(5))
    await define("slow", model.model)
    headers = {**user_headers, "Idempotency-Key": "job-4"}
    body = {"input": "x", "deadline_ms": 50}
    first = await client.post("/agents/slow/run", json=body, headers=headers)
    second = await client.post("/agents/slow/run", json=body, headers=headers)
    assert first.status_code == second.status_code == 504
    assert {**second.json(), "request_id": None} == {**first.json(), "request_id": None}
    assert len(model.requests) == 1


async def test_list_runs_filters_and_pages(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("a", script("a").model)
    await define("b", script(Sleep(5)).model)
    ids = [
        (await client.post("/agents/a/run", json={"input": str(i)}, headers=user_headers)).json()["run_id"]
        for i in range(3)
    ]
    failed = (await client.post("/agents/b/run", json={"input": "x", "deadline_ms": 30}, headers=user_headers)).json()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/runs", params=params, headers=user_headers)).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [failed["run_id"], *reversed(ids)]
    by_agent = (await client.get("/runs", params={"agent": "a"}, headers=user_headers)).json()
    assert [r["run_id"] for r in by_agent["items"]] == list(reversed(ids))
    by_status = (await client.get("/runs", params={"status": "failed"}, headers=user_headers)).json()
    assert [r["run_id"] for r in by_status["items"]] == [failed["run_id"]]


@pytest.mark.parametrize("policy", ["cancel", "continue"])
async def test_stream_disconnect_policy(
    live_url: str, user_headers: dict[str, str], define: Define, executor: RunExecutor, policy: str
) -> None:
    model = script(Slowly("Working", 0.5, " finished."))
    await define("slow", model.model)
    async with httpx.AsyncClient(base_url=live_url) as http:
        async with http.stream(
            "POST", f"/agents/slow/run/stream?on_disconnect={policy}", json={"input": "x"}, headers=user_headers
        ) as response:
            async for event in iter_sse(response):
                run_id = event.data["run_id"]
                if event.event == "text.delta":
                    break
        expected = "cancelled" if policy == "cancel" else "completed"
        run = await wait_for_status(http, run_id, expected, headers=user_headers)
    if policy == "cancel":
        assert run["usage"]["requests"] == 1
        assert run["error"] is None
        assert run["finished_at"] is not None
    else:
        assert run["output"] == "Working finished."
    assert not executor.executing(run_id)


async def test_sync_disconnect_cancels(live_url: str, user_headers: dict[str, str], define: Define) -> None:
    await define("slow", script(Sleep(5)).model)
    async with httpx.AsyncClient(base_url=live_url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/agents/slow/run", json={"input": "x"}, headers=user_headers, timeout=0.3)
        runs = (await http.get("/runs", headers=user_headers)).json()["items"]
        await wait_for_status(http, runs[0]["run_id"], "cancelled", headers=user_headers)


@pytest.mark.own_app
async def test_shutdown_interrupts_running_runs(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define, executor: RunExecutor
) -> None:
    await define("slow", script(Sleep(5)).model)
    accepted = (await client.post("/agents/slow/run?wait_ms=50", json={"input": "x"}, headers=user_headers)).json()
    await executor.shutdown(grace_seconds=0.05)
    run = (await client.get(f"/runs/{accepted['run_id']}", headers=user_headers)).json()
    assert (run["status"], run["error"]["error_type"]) == ("failed", "Interrupted")
    events = await client.get(accepted["events_url"], headers=user_headers)
    assert events.text.count("event: run.failed") == 1
    refused = await client.post("/agents/slow/run", json={"input": "x"}, headers=user_headers)
    assert (refused.status_code, refused.json()["error_type"]) == (503, "Overloaded")
