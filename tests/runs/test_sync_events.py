"""Sync runs without ``wait_ms`` call the model without streaming; their stored events are derived
from the run's messages (one delta per part) with the same vocabulary, numbering and terminal event."""

import asyncio

import httpx
from dirty_equals import IsInt, IsPartialDict, IsStr

from tests.runs.conftest import Define
from tests.runs.scripts import Call, Out, script
from tests.runs.sse import read_sse
from tests.runs.test_stream import assert_well_formed
from tests.runs.test_sync import RISK_SCHEMA


async def _stored(
    client: httpx.AsyncClient, run_id: str, headers: dict[str, str]
) -> list[tuple[str, dict[str, object]]]:
    response = await client.get(f"/runs/{run_id}/events", headers=headers)
    events = await read_sse(response)
    assert_well_formed(events)
    return [(e.event or "", e.data) for e in events]


async def test_sync_run_stores_whole_parts_as_events(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    agent = await define(
        "calc",
        script(Call("calculator", {"expression": "6*7"}), "It is 42.").model,
        tools=[{"type": "builtin", "name": "calculator"}],
    )
    response = await client.post("/agents/calc/run", json={"input": "6*7?"}, headers=user_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    common = {"run_id": body["run_id"]}
    assert await _stored(client, body["run_id"], user_headers) == [
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
        ("text.delta", {**common, "seq": 4, "delta": "It is 42."}),
        (
            "run.completed",
            IsPartialDict(**common, seq=5, status="completed", output="It is 42.", usage=IsPartialDict(requests=2)),
        ),
    ]
    run = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert run["first_token_at"] == IsStr()
    assert run["started_at"] <= run["first_token_at"] <= run["finished_at"]


async def test_sync_structured_run_stores_one_output_delta(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("risk", script(Out({"advice": "ok", "risk": 2})).model, output_schema=RISK_SCHEMA)
    response = await client.post("/agents/risk/run", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    assert await _stored(client, run_id, user_headers) == [
        ("run.started", IsPartialDict(seq=1, run_id=run_id)),
        ("output.delta", {"run_id": run_id, "seq": 2, "output": {"advice": "ok", "risk": 2}}),
        ("run.completed", IsPartialDict(seq=3, run_id=run_id, output={"advice": "ok", "risk": 2})),
    ]


async def test_sync_failed_run_stores_what_the_model_said(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define(
        "risk", script(Out({"advice": "x", "risk": 11})).model, output_schema=RISK_SCHEMA, retries={"output": 0}
    )
    response = await client.post("/agents/risk/run", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 502, response.text
    run_id = response.json()["run_id"]
    assert await _stored(client, run_id, user_headers) == [
        ("run.started", IsPartialDict(seq=1, run_id=run_id)),
        ("output.delta", {"run_id": run_id, "seq": 2, "output": {"advice": "x", "risk": 11}}),
        ("run.failed", IsPartialDict(seq=3, run_id=run_id, error_type="OutputValidationFailed")),
    ]


async def test_sync_run_with_wait_ms_still_streams(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("words", script("one two three").model)
    response = await client.post("/agents/words/run?wait_ms=5000", json={"input": "?"}, headers=user_headers)
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    assert await _stored(client, run_id, user_headers) == [
        ("run.started", IsPartialDict(seq=1)),
        ("text.delta", IsPartialDict(seq=2, delta="one")),
        ("text.delta", IsPartialDict(seq=3, delta=" two")),
        ("text.delta", IsPartialDict(seq=4, delta=" three")),
        ("run.completed", IsPartialDict(seq=5, output="one two three", duration_ms=IsInt(ge=0))),
    ]


async def test_runs_after_an_idempotency_race_still_find_the_version(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    """Two concurrent requests with one key answer the same run; later runs of the agent still work."""
    await define("words", script("one two").model)
    headers = {**user_headers, "Idempotency-Key": "race-1"}
    first, second = await asyncio.gather(
        client.post("/agents/words/run", json={"input": "?"}, headers=headers),
        client.post("/agents/words/run", json={"input": "?"}, headers=headers),
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["run_id"] == second.json()["run_id"]
    again = await client.post("/agents/words/run", json={"input": "?"}, headers=user_headers)
    assert (again.status_code, again.json()["output"]) == (200, "one two")
