"""`client.runs` against a real server: sync, streamed and background runs, resume, cancel."""

import asyncio
from typing import Any

import pytest
from axon_client import (
    AxonClient,
    Conflict,
    RunCancelled,
    RunCompleted,
    RunRequiresAction,
    RunStarted,
    TextDelta,
    ToolCall,
)
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from tests.client.conftest import Axon, Define
from tests.runs.scripts import Call, Sleep, Slowly, script

BALANCE = {
    "type": "external",
    "name": "customer_balance",
    "description": "Returns the balance.",
    "parameters": {"type": "object", "properties": {"include_pending": {"type": "boolean"}}},
}


def _tool_return(messages: list[Any]) -> Any:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    part = request.parts[0]
    assert isinstance(part, ToolReturnPart)
    return part.content


async def test_run_returns_the_result(client: AxonClient, define: Define) -> None:
    name = await define("echo", script("Hello there").model)
    result = await client.runs.run(name, "hi", deps={"x": 1}, metadata={"caller_ref": "job-1"}, deadline_ms=30_000)
    assert (result.status, result.output, result.agent.name, result.agent.version) == (
        "completed",
        "Hello there",
        name,
        1,
    )
    assert result.usage.requests == 1
    run = await client.runs.get(result.run_id)
    assert (run.status, run.metadata, run.output) == ("completed", {"caller_ref": "job-1"}, "Hello there")


async def test_stream_yields_typed_events(client: AxonClient, define: Define) -> None:
    name = await define("streamer", script("one two three").model)
    events = [event async for event in client.runs.stream(name, "go")]
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], RunCompleted)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "one two three"
    assert events[-1].result.output == "one two three"


async def test_start_wait_events_and_list(client: AxonClient, define: Define) -> None:
    name = await define("background", script(Slowly("slow", 0.2, " answer")).model)
    accepted = await client.runs.start(name, "go")
    assert accepted.status == "queued"
    assert accepted.events_url.endswith(f"/runs/{accepted.run_id}/events")
    run = await client.runs.wait(accepted.run_id, timeout=10)
    assert (run.status, run.output) == ("completed", "slow answer")
    events = [e async for e in client.runs.events(accepted.run_id)]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    later = [e async for e in client.runs.events(accepted.run_id, after=len(events) - 1)]
    assert later == events[-1:]
    second = await client.runs.start(name, "again")
    await client.runs.wait(second.run_id, timeout=10)
    listed = [r.run_id async for r in client.runs.list(agent=name, page_size=1)]
    assert listed == [second.run_id, accepted.run_id]
    assert [r.run_id async for r in client.runs.list(agent=name, status="failed")] == []


async def test_wait_times_out(client: AxonClient, define: Define) -> None:
    name = await define("sleepy", script(Sleep(0.3, "late")).model)
    accepted = await client.runs.start(name, "go")
    with pytest.raises(TimeoutError):
        await client.runs.wait(accepted.run_id, timeout=0.05)
    assert (await client.runs.wait(accepted.run_id, timeout=10)).output == "late"


async def test_requires_action_then_resume(client: AxonClient, define: Define) -> None:
    model = script(
        Call("customer_balance", {"include_pending": True}, id="bal-1"),
        lambda messages, _info: f"Balance: {_tool_return(messages)}",
    )
    name = await define("bank", model.model, tools=[BALANCE])
    paused = await client.runs.run(name, "balance?")
    assert paused.status == "requires_action"
    assert paused.deferred is not None
    assert [(c.tool_call_id, c.tool_name, c.args) for c in paused.deferred.calls] == [
        ("bal-1", "customer_balance", {"include_pending": True})
    ]
    done = await client.runs.resume(paused.run_id, tool_results={"bal-1": {"eur": 12}})
    assert (done.status, done.output) == ("completed", "Balance: {'eur': 12}")
    assert (await client.runs.get(done.run_id)).parent_run_id == paused.run_id
    assert (await client.runs.get(paused.run_id)).resumed_by == done.run_id
    with pytest.raises(Conflict) as raised:
        await client.runs.resume(paused.run_id, tool_results={"bal-1": 1})
    assert (raised.value.status_code, raised.value.retryable) == (409, False)


async def test_streamed_requires_action_and_streamed_resume(client: AxonClient, define: Define) -> None:
    model = script(Call("customer_balance", {}, id="bal-1"), lambda messages, _info: "Sorry, no balance.")
    name = await define("bank-stream", model.model, tools=[BALANCE])
    events = [e async for e in client.runs.stream(name, "?")]
    assert isinstance(events[-1], RunRequiresAction)
    assert any(isinstance(e, ToolCall) and e.tool_name == "customer_balance" for e in events)
    resumed = [
        e async for e in client.runs.resume_stream(events[-1].run_id, tool_errors={"bal-1": "Customer not found"})
    ]
    assert isinstance(resumed[0], RunStarted)
    assert isinstance(resumed[-1], RunCompleted)
    assert resumed[-1].output == "Sorry, no balance."
    assert resumed[0].run_id != events[-1].run_id


async def test_cancel(client: AxonClient, define: Define) -> None:
    name = await define("cancellable", script(Sleep(5, "never")).model)
    accepted = await client.runs.start(name, "go")
    stream = client.runs.events(accepted.run_id)
    first = await anext(stream)
    assert isinstance(first, RunStarted)
    cancelled = await client.runs.cancel(accepted.run_id)
    assert cancelled.status == "cancelled"
    rest = [e async for e in stream]
    assert isinstance(rest[-1], RunCancelled)
    assert (await client.runs.cancel(accepted.run_id)).status == "cancelled"


async def test_cancel_of_a_completed_run_is_a_conflict(client: AxonClient, define: Define) -> None:
    name = await define("finished", script("done").model)
    result = await client.runs.run(name, "go")
    with pytest.raises(Conflict):
        await client.runs.cancel(result.run_id)


async def test_idempotency_key_returns_the_same_run(axon: Axon, client: AxonClient, define: Define) -> None:
    name = await define("idem", script("once").model)
    first, second = await asyncio.gather(
        client.runs.run(name, "go", idempotency_key="key-1"), client.runs.run(name, "go", idempotency_key="key-1")
    )
    assert first.run_id == second.run_id
    assert len([r async for r in client.runs.list(agent=name)]) == 1
    with pytest.raises(Conflict):
        await client.runs.run(name, "another body", idempotency_key="key-1")
