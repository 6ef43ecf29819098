"""Real server processes: SIGKILL and resume, takeover by another replica, cross-process events and cancel.

The scripted upstream runs in the test process and counts the model requests every server makes,
so "a completed model step is not requested again after a crash" is checked on the wire.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.doubles.openai_upstream import Hang, ScriptedUpstream, Text, ToolCall, ToolCalls, scripted_upstream
from tests.runs.processes import Server, api_key, fresh_database, read_events
from tests.runs.sse import names
from tests.waits import wait_for_status

ENDPOINT = "upstream"
CALCULATOR = {"type": "builtin", "name": "calculator"}


def _postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("several processes share one database only on Postgres (SQLite is single-process)")


@contextlib.asynccontextmanager
async def _cluster(
    backend: str, tmp_path: Path, *names_: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[list[Server], dict[str, str]]]:
    """Servers on one fresh database; yields (servers, a user's headers)."""
    async with fresh_database(backend, tmp_path) as url:
        servers = [Server(name, url, tmp_path / f"{name}.log", dict(env or {})) for name in names_]
        try:
            await asyncio.gather(*(server.start() for server in servers))
            yield servers, await api_key(url, "alice")
        finally:
            await asyncio.gather(*(server.stop_quietly() for server in servers))


async def _setup(server: Server, upstream: ScriptedUpstream, user: dict[str, str]) -> None:
    admin = await api_key(server.database_url, "root", role="admin")
    async with server.client(admin) as http:
        body = {"name": ENDPOINT, "base_url": upstream.base_url, "api_key": "sk-test-0123456789"}
        assert (await http.post("/model-endpoints", json=body)).status_code == 201
    async with server.client(user) as http:
        agent = {"name": "calc", "model": f"{ENDPOINT}:gpt-test", "instructions": "Compute.", "tools": [CALCULATOR]}
        assert (await http.post("/agents", json=agent)).status_code == 201


async def _submit(server: Server, user: dict[str, str]) -> str:
    async with server.client(user) as http:
        response = await http.post("/agents/calc/runs", json={"input": "What is 6*7?"})
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])


def _tool_turns(upstream: ScriptedUpstream) -> list[bool]:
    """Per model request: did it already carry the calculator's result (i.e. was it model step 2)?"""
    return [any(m.get("role") == "tool" for m in r.body["messages"]) for r in upstream.chat_requests]


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as server:
        yield server


async def test_sigkill_then_restart_resumes_without_repeating_model_steps(
    backend: str, tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    upstream.script(ToolCalls(ToolCall("calculator", {"expression": "6*7"})), Hang(), Text("the answer is 42"))
    async with _cluster(backend, tmp_path, "replica-a") as ([server], user):
        await _setup(server, upstream, user)
        run_id = await _submit(server, user)
        await upstream.wait_for_requests(2)  # step 1 answered and checkpointed; step 2 in flight

        await server.kill()
        await server.start()  # same executor id: DBOS recovers its own pending workflow at launch

        async with server.client(user) as http:
            run = await wait_for_status(http, run_id, "completed", "failed")
            events = await read_events(http, run_id)
    assert (run["status"], run["output"], run["worker"]) == ("completed", "the answer is 42", "replica-a")
    assert _tool_turns(upstream) == [False, True, True]  # step 1 once; step 2 again (it never finished)
    assert names(events)[0] == "run.started"
    assert names(events)[-1] == "run.completed"
    assert names(events).count("run.started") == 1
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))


async def test_another_replica_takes_over_and_serves_live_events(
    backend: str, tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    _postgres_only(backend)
    upstream.script(
        ToolCalls(ToolCall("calculator", {"expression": "6*7"})),
        Hang(),
        Text("the answer is 42", chunks=4, chunk_delay=0.2),
    )
    async with _cluster(backend, tmp_path, "replica-a", "replica-b") as (servers, user):
        await _setup(servers[0], upstream, user)
        run_id = await _submit(servers[0], user)
        await upstream.wait_for_requests(2)
        async with servers[0].client(user) as http:
            runner_name = (await http.get(f"/runs/{run_id}")).json()["worker"]
        runner, other = sorted(servers, key=lambda s: s.name != runner_name)
        async with other.client(user) as http:
            streaming = asyncio.Event()
            follower = asyncio.create_task(read_events(http, run_id, within=90, streaming=streaming))
            async with asyncio.timeout(30):
                await streaming.wait()  # the survivor serves the stream live when the runner dies
            await runner.kill()  # no shutdown code: the survivor notices the stale heartbeat
            events = await follower
            run = await wait_for_status(http, run_id, "completed", "failed")
    assert (run["status"], run["output"], run["worker"]) == ("completed", "the answer is 42", other.name)
    assert _tool_turns(upstream) == [False, True, True]
    assert names(events)[-1] == "run.completed"
    assert names(events).count("run.started") == 1
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))


async def test_cancel_reaches_the_process_running_the_run(
    backend: str, tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    _postgres_only(backend)
    upstream.script(Hang())
    async with _cluster(backend, tmp_path, "replica-a", "replica-b") as (servers, user):
        await _setup(servers[0], upstream, user)
        run_id = await _submit(servers[0], user)
        await upstream.wait_for_requests(1)
        async with servers[0].client(user) as http:
            runner_name = (await http.get(f"/runs/{run_id}")).json()["worker"]
        other = next(s for s in servers if s.name != runner_name)
        async with other.client(user) as http:
            response = await http.post(f"/runs/{run_id}/cancel")
            events = await read_events(http, run_id)
            again = await http.post(f"/runs/{run_id}/cancel")
        await upstream.wait_for_disconnects(1)  # the model request was really stopped
    body: dict[str, Any] = response.json()
    # 200 (not 202 ``cancel_pending``): the run stopped within AXON_CANCEL_WAIT_SECONDS, on another process.
    assert (response.status_code, body["status"], body["worker"]) == (200, "cancelled", runner_name)
    assert names(events) == ["run.started", "run.cancelled"]
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")


async def test_graceful_shutdown_hands_background_runs_over(
    backend: str, tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    _postgres_only(backend)
    upstream.script(Hang(), Text("finished elsewhere"))
    # A heartbeat would take a minute to go stale: only the graceful stop lets the other replica take over now.
    slow_death = {"AXON_EXECUTOR_DEAD_AFTER_SECONDS": "60"}
    async with _cluster(backend, tmp_path, "replica-a", "replica-b", env=slow_death) as (servers, user):
        await _setup(servers[0], upstream, user)
        run_id = await _submit(servers[0], user)
        await upstream.wait_for_requests(1)
        async with servers[0].client(user) as http:
            runner_name = (await http.get(f"/runs/{run_id}")).json()["worker"]
        runner, other = sorted(servers, key=lambda s: s.name != runner_name)

        assert await runner.terminate() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown

        async with other.client(user) as http:
            run = await wait_for_status(http, run_id, "completed", "failed")
            with contextlib.suppress(httpx.HTTPError):
                listed = (await http.get("/runs")).json()["items"]
    assert (run["status"], run["output"], run["worker"]) == ("completed", "finished elsewhere", other.name)
    assert [(item["id"] if "id" in item else item["run_id"], item["worker"]) for item in listed] == [
        (run_id, other.name)
    ]
