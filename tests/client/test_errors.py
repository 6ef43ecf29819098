"""Each error the tests can provoke on a real server arrives as its typed exception."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from axon_client import (
    AxonClient,
    AxonError,
    Cancelled,
    Conflict,
    ContentFiltered,
    DeadlineExceeded,
    Forbidden,
    InvalidAgentDefinition,
    ModelHTTPError,
    ModelUnavailable,
    NotFound,
    OutputValidationFailed,
    PayloadTooLarge,
    RunFailed,
    SessionBusy,
    Unauthorized,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    ValidationError,
)
from pydantic_ai import exceptions as pai
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo

from tests.client.conftest import Axon, Define
from tests.runs.scripts import Call, Out, Sleep, script

RISK_SCHEMA = {
    "type": "object",
    "properties": {"advice": {"type": "string"}, "risk": {"type": "integer", "minimum": 0, "maximum": 10}},
    "required": ["advice", "risk"],
}


@pytest.fixture
async def strict(axon: Axon) -> AsyncIterator[AxonClient]:
    """A client that never retries, so retryable errors surface at once."""
    async with axon.client(max_retries=0) as client:
        yield client


def _raises(exc: BaseException) -> Callable[[list[ModelMessage], AgentInfo], Any]:
    def turn(_messages: list[ModelMessage], _info: AgentInfo) -> Any:
        raise exc

    return turn


# Factories: a script remembers its requests, and each backend needs a fresh one.
FAILED_RUNS = [
    pytest.param(
        lambda: script(_raises(pai.ModelHTTPError(429, "gpt-test"))),
        {},
        {},
        ModelHTTPError,
        502,
        True,
        id="ModelHTTPError",
    ),
    pytest.param(
        lambda: script(_raises(pai.ModelConnectionError("m", "refused"))),
        {},
        {},
        ModelUnavailable,
        503,
        True,
        id="ModelUnavailable",
    ),
    pytest.param(
        lambda: script(_raises(pai.ContentFilterError("filtered", body="{}"))),
        {},
        {},
        ContentFiltered,
        422,
        False,
        id="ContentFiltered",
    ),
    pytest.param(
        lambda: script(_raises(pai.UnexpectedModelBehavior("Received empty model response"))),
        {},
        {},
        UnexpectedModelBehavior,
        502,
        True,
        id="UnexpectedModelBehavior",
    ),
    pytest.param(
        lambda: script(Out({"advice": "Hm", "risk": 11})),
        {"output_schema": RISK_SCHEMA, "retries": {"output": 0}},
        {},
        OutputValidationFailed,
        502,
        True,
        id="OutputValidationFailed",
    ),
    pytest.param(
        lambda: script(Call("calculator", {"expression": "1+1"}), "Two."),
        {"tools": [{"type": "builtin", "name": "calculator"}]},
        {"usage_limits": {"request_limit": 1}},
        UsageLimitExceeded,
        422,
        False,
        id="UsageLimitExceeded",
    ),
    pytest.param(
        lambda: script(Sleep(5)), {}, {"deadline_ms": 100}, DeadlineExceeded, 504, None, id="DeadlineExceeded"
    ),
]


@pytest.mark.parametrize(("model", "fields", "options", "error", "status", "retryable"), FAILED_RUNS)
async def test_a_failed_run_raises_its_error_type(
    strict: AxonClient,
    define: Define,
    model: Any,
    fields: dict[str, Any],
    options: dict[str, Any],
    error: type[AxonError],
    status: int,
    retryable: bool | None,
) -> None:
    name = await define("failing", model().model, **fields)
    with pytest.raises(error) as raised:
        await strict.runs.run(name, "go", **options)
    failure = raised.value
    assert type(failure) is error
    assert (failure.error_type, failure.status_code) == (error.__name__, status)
    if retryable is not None:
        assert failure.retryable is retryable
    assert failure.run_id is not None
    assert failure.request_id
    run = await strict.runs.get(failure.run_id)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.error_type == error.__name__


async def test_a_failed_stream_ends_with_run_failed(strict: AxonClient, define: Define) -> None:
    name = await define("failing-stream", script(_raises(pai.ModelHTTPError(500, "m"))).model)
    events = [e async for e in strict.runs.stream(name, "go")]
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert isinstance(failed.error, ModelHTTPError)
    assert failed.error.run_id == failed.run_id


async def test_a_cancelled_sync_run_raises_cancelled(strict: AxonClient, define: Define) -> None:
    name = await define("cancelled", script(Sleep(5)).model)
    running = asyncio.create_task(strict.runs.run(name, "go"))
    for _ in range(200):
        runs = [r async for r in strict.runs.list(agent=name, status="running")]
        if runs:
            break
        await asyncio.sleep(0.02)
    await strict.runs.cancel(runs[0].run_id)
    with pytest.raises(Cancelled) as raised:
        await running
    assert raised.value.run_id == runs[0].run_id


async def test_request_errors(axon: Axon, strict: AxonClient, define: Define) -> None:
    with pytest.raises(NotFound) as not_found:
        await strict.agents.get("nobody-has-this-agent")
    assert (not_found.value.status_code, not_found.value.retryable, not_found.value.run_id) == (404, False, None)
    with pytest.raises(NotFound):
        await strict.runs.get(str(uuid.uuid4()))
    with pytest.raises(InvalidAgentDefinition) as invalid:
        await strict.agents.create({"name": "bad", "model": "test", "colour": "blue"})
    assert "colour" in str(invalid.value.details) + invalid.value.message
    name = await define("taken")
    with pytest.raises(Conflict):
        await strict.agents.create({"name": name, "model": "test"})
    with pytest.raises(ValidationError) as validation:
        await strict.runs.run(name, "go", session_id=str(uuid.uuid4()), message_history=[])
    assert validation.value.status_code == 422
    with pytest.raises(PayloadTooLarge):
        await strict.runs.run(name, "x" * 1_100_000)
    with pytest.raises(Forbidden):
        await anext(strict.model_endpoints.list())
    async with axon.client(key="axk_not-a-real-key") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.agents.get(name)


async def test_session_busy(strict: AxonClient, define: Define) -> None:
    name = await define("busy", script(Sleep(5, "late")).model)
    session = await strict.sessions.create(name)
    first = await strict.runs.start(name, "first", session_id=session.id)
    await anext(strict.runs.events(first.run_id))  # it is running
    with pytest.raises(SessionBusy) as busy:
        await strict.runs.run(name, "second", session_id=session.id)
    assert (busy.value.status_code, busy.value.retryable) == (409, True)
    assert isinstance(busy.value, Conflict)
    await strict.runs.cancel(first.run_id)
