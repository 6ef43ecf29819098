"""Runs on a session: history read and extended atomically, one run at a time, forks, tool restriction."""

import asyncio
from typing import Any

import httpx
from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_ai.models import Model

from tests.runs.scripts import Call, Script, Wait, script
from tests.waits import until

TOOLS = [{"type": "builtin", "name": "calculator"}, {"type": "builtin", "name": "current_time"}]


async def _agent(
    models: dict[str, Model], client: httpx.AsyncClient, headers: dict[str, str], name: str, model: Model
) -> None:
    body = {"name": name, "model": "test", "instructions": "Be brief.", "tools": TOOLS}
    assert (await client.post("/agents", json=body, headers=headers)).status_code == 201
    models[name] = model


async def _session(client: httpx.AsyncClient, headers: dict[str, str], agent: str, **body: Any) -> str:
    response = await client.post("/sessions", json={"agent": agent, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _texts(messages: list[Any]) -> list[str]:
    """User prompts and text replies, in order, of stored (JSON) or seen (pydantic-ai) messages."""
    messages = (
        ModelMessagesTypeAdapter.dump_python(messages, mode="json")
        if messages and not isinstance(messages[0], dict)
        else messages
    )
    return [part["content"] for m in messages for part in m["parts"] if part["part_kind"] in ("user-prompt", "text")]


async def test_runs_extend_the_history_and_forks_branch_it(
    scripted_models: dict[str, Model], client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    turns = script("hello Ada", "you are Ada", "a fork answer")
    await _agent(scripted_models, client, user_headers, "chat", turns.model)
    session_id = await _session(client, user_headers, "chat")

    first = await client.post(
        "/agents/chat/run", json={"input": "I am Ada", "session_id": session_id}, headers=user_headers
    )
    second = await client.post(
        "/agents/chat/run", json={"input": "who am I?", "session_id": session_id}, headers=user_headers
    )

    assert (first.status_code, second.status_code) == (200, 200)
    assert _texts(turns.requests[1][0]) == ["I am Ada", "hello Ada", "who am I?"]  # the model saw the history
    stored = (await client.get(f"/sessions/{session_id}/messages", headers=user_headers)).json()
    assert stored["message_count"] == 4
    assert _texts(stored["messages"]) == ["I am Ada", "hello Ada", "who am I?", "you are Ada"]
    run = (await client.get(f"/runs/{second.json()['run_id']}", headers=user_headers)).json()
    assert run["session_id"] == session_id
    listed = (await client.get("/runs", params={"session_id": session_id}, headers=user_headers)).json()
    assert len(listed["items"]) == 2

    fork = await client.post(f"/sessions/{session_id}/fork", json={"at": 2}, headers=user_headers)
    assert fork.status_code == 201
    fork_id = fork.json()["id"]
    third = await client.post("/agents/chat/run", json={"input": "again", "session_id": fork_id}, headers=user_headers)
    assert third.status_code == 200
    assert _texts(turns.requests[2][0]) == ["I am Ada", "hello Ada", "again"]
    assert (await client.get(f"/sessions/{session_id}", headers=user_headers)).json()["message_count"] == 4


async def test_second_run_on_a_busy_session_is_session_busy(
    scripted_models: dict[str, Model], client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    release = asyncio.Event()  # the first run holds the session until the test lets it answer
    await _agent(scripted_models, client, user_headers, "slow", script(Wait(release, "done"), "second").model)
    session_id = await _session(client, user_headers, "slow")
    first = asyncio.create_task(
        client.post("/agents/slow/run", json={"input": "one", "session_id": session_id}, headers=user_headers)
    )

    async def running() -> bool:
        return bool((await client.get(f"/sessions/{session_id}", headers=user_headers)).json()["active_run_id"])

    await until(running)

    busy = await client.post("/agents/slow/run", json={"input": "two", "session_id": session_id}, headers=user_headers)
    deleting = await client.delete(f"/sessions/{session_id}", headers=user_headers)

    assert busy.status_code == 409
    assert busy.headers["retry-after"] == "1"
    assert {k: busy.json()[k] for k in ("error_type", "retryable")} == {"error_type": "SessionBusy", "retryable": True}
    assert deleting.status_code == 409
    release.set()
    assert (await first).status_code == 200
    later = await client.post("/agents/slow/run", json={"input": "two", "session_id": session_id}, headers=user_headers)
    assert later.status_code == 200
    assert (await client.get(f"/sessions/{session_id}", headers=user_headers)).json()["message_count"] == 4


async def test_a_failed_run_leaves_the_history_and_releases_the_session(
    scripted_models: dict[str, Model], client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    def boom(*_: Any) -> str:
        raise RuntimeError("model exploded")

    await _agent(scripted_models, client, user_headers, "flaky", Script([boom, "fine"]).model)
    session_id = await _session(client, user_headers, "flaky")

    failed = await client.post("/agents/flaky/run", json={"input": "x", "session_id": session_id}, headers=user_headers)
    ok = await client.post("/agents/flaky/run", json={"input": "y", "session_id": session_id}, headers=user_headers)

    assert (failed.status_code, ok.status_code) == (500, 200)
    stored = (await client.get(f"/sessions/{session_id}/messages", headers=user_headers)).json()
    assert _texts(stored["messages"]) == ["y", "fine"]


async def test_session_tools_restrict_the_agent(
    scripted_models: dict[str, Model], client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    turns = script(Call("calculator", {"expression": "1+1"}), "two")
    await _agent(scripted_models, client, user_headers, "tooled", turns.model)
    session_id = await _session(client, user_headers, "tooled", tools=["calculator"])

    response = await client.post(
        "/agents/tooled/run", json={"input": "1+1?", "session_id": session_id}, headers=user_headers
    )

    assert response.status_code == 200, response.text
    assert [tool.name for tool in turns.requests[0][1].function_tools] == ["calculator"]


async def test_session_rules(
    scripted_models: dict[str, Model],
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
) -> None:
    await _agent(scripted_models, client, user_headers, "a1", script("x").model)
    await _agent(scripted_models, client, user_headers, "a2", script("y").model)
    session_id = await _session(client, user_headers, "a1")
    cases = [
        (user_headers, "a2", {"session_id": session_id}, 422),
        (user_headers, "a1", {"session_id": session_id, "message_history": []}, 422),
        (user_headers, "a1", {"session_id": "not-a-uuid"}, 404),
    ]
    for headers, agent, extra, status in cases:
        response = await client.post(f"/agents/{agent}/run", json={"input": "q", **extra}, headers=headers)
        assert response.status_code == status, (agent, extra, response.text)
    other_agent = {"name": "a1", "model": "test", "instructions": "Hi."}
    assert (await client.post("/agents", json=other_agent, headers=other_headers)).status_code == 201
    stolen = await client.post("/agents/a1/run", json={"input": "q", "session_id": session_id}, headers=other_headers)
    assert stolen.status_code == 404
