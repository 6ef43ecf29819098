"""Retries and reconnection over a real network path: a loopback proxy loses answers and cuts connections."""

import time
from collections.abc import AsyncIterator

import pytest
from axon_client import APIConnectionError, AxonClient, NotFound, Overloaded, RunCompleted, TextDelta

from tests.client.conftest import Axon, Define
from tests.doubles.tcp_proxy import TcpProxy
from tests.runs.scripts import Sleep, Slowly, script

OVERLOADED = {"error_type": "Overloaded", "message": "Too many runs.", "retryable": True, "retry_after": 0.05}


@pytest.fixture
async def proxy(axon: Axon) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", int(axon.url.rsplit(":", 1)[1])) as running:
        yield running


async def _runs_of(client: AxonClient, agent: str) -> list[str]:
    return [run.run_id async for run in client.runs.list(agent=agent)]


async def test_run_retried_after_a_503_does_not_start_a_second_run(
    axon: Axon, client: AxonClient, define: Define, proxy: TcpProxy
) -> None:
    name = await define("retried", script("only once").model)
    proxy.fail_next_request(503, OVERLOADED, retry_after=0.05)
    async with axon.client(url=proxy.url) as through_proxy:
        started = time.monotonic()
        result = await through_proxy.runs.run(name, "go")
    assert time.monotonic() - started >= 0.05  # Retry-After honoured
    assert (result.status, result.output) == ("completed", "only once")
    assert proxy.connections_accepted == 2
    assert await _runs_of(client, name) == [result.run_id]
    assert (await client.runs.get(result.run_id)).usage.requests == 1  # the model was called once


async def test_retries_stop_at_max_retries(axon: Axon, client: AxonClient, define: Define, proxy: TcpProxy) -> None:
    name = await define("overloaded", script("ok").model)
    for _ in range(2):
        proxy.fail_next_request(503, OVERLOADED, retry_after=0)
    async with axon.client(url=proxy.url, max_retries=1) as through_proxy:
        with pytest.raises(Overloaded) as raised:
            await through_proxy.runs.run(name, "go")
    assert (raised.value.status_code, raised.value.retryable, raised.value.retry_after) == (503, True, 0.05)
    assert proxy.connections_accepted == 2
    assert len(await _runs_of(client, name)) == 1


async def test_errors_that_are_not_retryable_are_raised_at_once(axon: Axon, proxy: TcpProxy) -> None:
    proxy.fail_next_request(404, {"error_type": "NotFound", "message": "No such agent.", "retryable": False})
    async with axon.client(url=proxy.url) as through_proxy:
        with pytest.raises(NotFound, match="No such agent"):
            await through_proxy.agents.get("nobody")
    assert proxy.connections_accepted == 1


async def test_connection_failures_are_retried_then_raised(axon: Axon, proxy: TcpProxy) -> None:
    async with TcpProxy("127.0.0.1", proxy.port) as closed:  # a port nobody listens on once it is closed
        url = closed.url
    async with AxonClient(url, api_key=axon.user_key, max_retries=1) as unreachable:
        with pytest.raises(APIConnectionError) as raised:
            await unreachable.agents.get("anything")
    assert raised.value.retryable


async def test_a_stream_cut_before_its_first_event_attaches_to_the_same_run(
    axon: Axon, client: AxonClient, define: Define, proxy: TcpProxy
) -> None:
    name = await define("dropped", script(Slowly("Hello", 0.15, " world")).model)
    proxy.drop_next_request()
    async with axon.client(url=proxy.url) as through_proxy:
        events = [e async for e in through_proxy.runs.stream(name, "go")]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[-1], RunCompleted)
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "Hello world"
    assert proxy.connections_accepted == 2
    assert await _runs_of(client, name) == [events[-1].run_id]


async def test_a_stream_cut_mid_run_resumes_without_duplicates_or_gaps(
    axon: Axon, client: AxonClient, define: Define, proxy: TcpProxy
) -> None:
    name = await define("resumed", script(Slowly("Hello", 0.15, " world")).model)
    events = []
    async with axon.client(url=proxy.url) as through_proxy:
        async for event in through_proxy.runs.stream(name, "go"):
            events.append(event)
            if isinstance(event, TextDelta) and proxy.connections_accepted == 1:
                await proxy.reset()
    assert proxy.connections_accepted == 2  # the POST, then GET /runs/{id}/events with Last-Event-ID
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.event for e in events] == ["run.started", "text.delta", "text.delta", "run.completed"]
    assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "Hello world"
    run = await client.runs.get(events[0].run_id)
    assert (run.status, run.output) == ("completed", "Hello world")
    assert await _runs_of(client, name) == [run.run_id]


async def test_session_busy_is_retried_until_the_session_is_free(axon: Axon, define: Define) -> None:
    name = await define("queued-behind", script(Sleep(0.2, "first"), "second").model)
    async with axon.client(max_retries=4) as patient:
        session = await patient.sessions.create(name)
        first = await patient.runs.start(name, "one", session_id=session.id)
        await anext(patient.runs.events(first.run_id))  # it is running
        second = await patient.runs.run(name, "two", session_id=session.id)
        assert second.output == "second"
        assert (await patient.runs.get(first.run_id)).output == "first"
        assert len([r async for r in patient.runs.list(session_id=session.id)]) == 2
