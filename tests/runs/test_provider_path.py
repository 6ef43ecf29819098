"""The real provider path: pydantic-ai's OpenAI chat model over HTTP against the scripted upstream.

An admin registers the model endpoint ``upstream`` (pointing at the double), a user defines
agents on ``upstream:gpt-test`` and runs them through the Axon API. Every scenario runs on
SQLite and on Postgres.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dirty_equals import IsDatetime, IsInt, IsList, IsPartialDict, IsStr
from fastapi import FastAPI
from inline_snapshot import Is, snapshot

from app.config import Settings
from app.main import create_app
from tests.doubles.axon import (
    UPSTREAM_KEY,
    define_agent,
    live_client,
    register_upstream,
    stored_events,
)
from tests.doubles.openai_upstream import (
    ErrorReply,
    Hang,
    ScriptedUpstream,
    Text,
    ToolCall,
    ToolCalls,
    Usage,
    content_filtered,
    context_length_exceeded,
    output,
    rate_limited,
    scripted_upstream,
    server_error,
    unauthorized,
)
from tests.factories import auth_headers
from tests.runs.sse import SSEEvent, iter_sse, names, read_sse
from tests.waits import wait_for_status

UNPRICED = {"cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_usd": None}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as server:
        yield server


@pytest.fixture
async def plain(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> str:
    """A text agent on the upstream with the builtin calculator; returns its name."""
    await register_upstream(client, admin_headers, upstream)
    await define_agent(client, user_headers, "prov", tools=[{"type": "builtin", "name": "calculator"}])
    return "prov"


def envelope(error_type: str, message: str, details: Any, *, retryable: bool, retry_after: float | None = None) -> Any:
    return {
        "status": "error",
        "error_type": error_type,
        "message": message,
        "details": details,
        "retryable": retryable,
        "retry_after": retry_after,
        "run_id": IsStr(min_length=1),
        "request_id": IsStr(min_length=1) | None,
    }


async def run(client: httpx.AsyncClient, headers: dict[str, str], agent: str, **body: Any) -> httpx.Response:
    return await client.post(f"/agents/{agent}/run", json={"input": "Hello?", **body}, headers=headers)


async def stream(client: httpx.AsyncClient, headers: dict[str, str], agent: str, **body: Any) -> list[SSEEvent]:
    async with client.stream(
        "POST", f"/agents/{agent}/run/stream", json={"input": "Hello?", **body}, headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        return await read_sse(response)


async def test_streamed_text_reports_the_upstream_usage(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(Text("Hello from upstream", usage=Usage(prompt_tokens=13, completion_tokens=5)))

    events = await stream(client, user_headers, plain)

    usage = {"requests": 1, "input_tokens": 13, "output_tokens": 5, "total_tokens": 18, "tool_calls": 0, **UNPRICED}
    assert names(events) == ["run.started", "text.delta", "text.delta", "text.delta", "run.completed"]
    assert "".join(e.data["delta"] for e in events if e.event == "text.delta") == "Hello from upstream"
    completed = events[-1].data
    assert completed == IsPartialDict(status="completed", output="Hello from upstream", usage=usage)
    stored = (await client.get(f"/runs/{completed['run_id']}", headers=user_headers)).json()
    assert stored == IsPartialDict(status="completed", output="Hello from upstream", usage=usage, error=None)
    [request] = upstream.chat_requests
    assert (request.api_key, request.body["model"], request.body["stream_options"]) == (
        UPSTREAM_KEY,
        "gpt-test",
        {"include_usage": True},
    )


async def test_sync_run_over_the_real_model(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(Text("Fine, thanks.", usage=Usage(prompt_tokens=20, completion_tokens=4)))

    response = await run(client, user_headers, plain)

    assert (response.status_code, response.json()) == (
        200,
        {
            "run_id": IsStr(min_length=1),
            "status": "completed",
            "agent": {"id": IsStr(), "name": "prov", "version": 1, "spec_hash": IsStr(min_length=64, max_length=64)},
            "output": "Fine, thanks.",
            "usage": {
                "requests": 1,
                "input_tokens": 20,
                "output_tokens": 4,
                "total_tokens": 24,
                "tool_calls": 0,
                **UNPRICED,
            },
            "messages": IsList(length=2),
            "deferred": None,
            "started_at": IsDatetime(iso_string=True),
            "finished_at": IsDatetime(iso_string=True),
            "duration_ms": IsInt(ge=0),
        },
    )


async def test_tool_calling_stream(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(
        ToolCalls(ToolCall("calculator", {"expression": "6*7"}, id="call_calc"), usage=Usage(30, 9)),
        Text("It is 42.", usage=Usage(45, 4)),
    )

    events = await stream(client, user_headers, plain)

    run_id = events[0].data["run_id"]
    assert [(e.id, e.event, e.data) for e in events[:-1]] == snapshot(
        [
            (
                "1",
                "run.started",
                {
                    "agent": {"id": IsStr(), "name": "prov", "version": 1, "spec_hash": IsStr()},
                    "session_id": None,
                    "run_id": Is(run_id),
                    "seq": 1,
                },
            ),
            (
                "2",
                "tool.call",
                {
                    "tool_call_id": "call_calc",
                    "tool_name": "calculator",
                    "args": {"expression": "6*7"},
                    "run_id": Is(run_id),
                    "seq": 2,
                },
            ),
            (
                "3",
                "tool.result",
                {
                    "tool_call_id": "call_calc",
                    "tool_name": "calculator",
                    "content": 42,
                    "outcome": "success",
                    "run_id": Is(run_id),
                    "seq": 3,
                },
            ),
            ("4", "text.delta", {"delta": "It", "run_id": Is(run_id), "seq": 4}),
            ("5", "text.delta", {"delta": " is", "run_id": Is(run_id), "seq": 5}),
            ("6", "text.delta", {"delta": " 42.", "run_id": Is(run_id), "seq": 6}),
        ]
    )
    assert (events[-1].id, events[-1].event) == ("7", "run.completed")
    assert events[-1].data == IsPartialDict(
        output="It is 42.",
        usage={"requests": 2, "input_tokens": 75, "output_tokens": 13, "total_tokens": 88, "tool_calls": 1, **UNPRICED},
    )
    tool_message = upstream.chat_requests[1].body["messages"][-1]
    assert (tool_message["role"], tool_message["tool_call_id"], tool_message["content"]) == ("tool", "call_calc", "42")


async def test_invalid_structured_output_goes_back_to_the_model(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    await register_upstream(client, admin_headers, upstream)
    await define_agent(client, user_headers, "typed", output_schema=ANSWER_SCHEMA, retries={"output": 2})
    upstream.script(output({"answer": "yes", "confidence": 7}), output({"answer": "yes", "confidence": 0.9}))

    response = await run(client, user_headers, "typed")

    assert (response.status_code, response.json()["output"]) == (200, {"answer": "yes", "confidence": 0.9})
    assert response.json()["usage"]["requests"] == 2
    retry = upstream.chat_requests[1].body["messages"][-1]
    assert (retry["role"], "7 is greater than the maximum of 1" in retry["content"]) == ("tool", True)


async def test_structured_output_retries_exhausted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    await register_upstream(client, admin_headers, upstream)
    await define_agent(client, user_headers, "typed", output_schema=ANSWER_SCHEMA, retries={"output": 1})
    upstream.script(output({"answer": "yes"}), output({"answer": "yes", "confidence": -1}))

    response = await run(client, user_headers, "typed")

    assert response.status_code == 502
    body = response.json()
    assert body == envelope(
        "OutputValidationFailed",
        "The model's output never matched the output schema.",
        {
            "errors": [{"path": "$.confidence", "message": "-1 is less than the minimum of 0"}],
            "raw_output": {"answer": "yes", "confidence": -1},
            "usage": {
                "requests": 2,
                "input_tokens": 22,
                "output_tokens": 14,
                "total_tokens": 36,
                "tool_calls": 0,
                **UNPRICED,
            },
        },
        retryable=True,
    )
    assert len(upstream.chat_requests) == 2
    stored = (await client.get(f"/runs/{body['run_id']}", headers=user_headers)).json()
    assert (stored["status"], stored["error"]) == ("failed", {**body, "request_id": stored["error"]["request_id"]})


async def test_rate_limit_is_a_retryable_model_http_error_with_retry_after(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(rate_limited(retry_after=2))

    response = await run(client, user_headers, plain)

    details = {
        "model_name": "gpt-test",
        "status_code": 429,
        "provider_error_code": "rate_limit_exceeded",
        "provider_error_type": "requests",
        "reason": "rate_limited",
    }
    assert (response.status_code, response.headers["retry-after"]) == (502, "2")
    assert response.json() == envelope(
        "ModelHTTPError", "Upstream model returned 429.", details, retryable=True, retry_after=2.0
    )
    assert "Rate limit reached" not in response.text  # the upstream's body is never copied
    assert len(upstream.chat_requests) == 1


async def test_rate_limit_in_a_stream_is_the_same_envelope(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(rate_limited(retry_after=3))

    events = await stream(client, user_headers, plain)

    assert names(events) == ["run.started", "run.failed"]
    failed = events[-1].data
    assert failed == IsPartialDict(
        status="error", error_type="ModelHTTPError", retryable=True, retry_after=3.0, run_id=events[0].data["run_id"]
    )
    stored = (await client.get(f"/runs/{failed['run_id']}", headers=user_headers)).json()
    assert stored["error"] == {k: v for k, v in failed.items() if k != "seq"} | {"request_id": IsStr() | None}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            server_error(),
            envelope(
                "ModelHTTPError",
                "Upstream model returned 500.",
                {"model_name": "gpt-test", "status_code": 500, "provider_error_type": "server_error"},
                retryable=True,
            ),
            id="500",
        ),
        pytest.param(
            unauthorized(),
            envelope(
                "ModelHTTPError",
                "Upstream model returned 401.",
                {
                    "model_name": "gpt-test",
                    "status_code": 401,
                    "provider_error_code": "invalid_api_key",
                    "provider_error_type": "invalid_request_error",
                    "reason": "authentication",
                },
                retryable=False,
            ),
            id="401",
        ),
        pytest.param(
            context_length_exceeded(),
            envelope(
                "ModelHTTPError",
                "Upstream model returned 400.",
                {
                    "model_name": "gpt-test",
                    "status_code": 400,
                    "provider_error_code": "context_length_exceeded",
                    "provider_error_type": "invalid_request_error",
                    "reason": "context_window_exceeded",
                },
                retryable=False,
            ),
            id="context-window",
        ),
    ],
)
async def test_upstream_errors_map_to_model_http_error(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    upstream: ScriptedUpstream,
    plain: str,
    reply: ErrorReply,
    expected: Any,
) -> None:
    upstream.script(reply)

    response = await run(client, user_headers, plain)

    assert (response.status_code, response.json()) == (502, expected)
    assert "retry-after" not in response.headers
    assert UPSTREAM_KEY not in response.text
    assert len(upstream.chat_requests) == 1  # model_max_retries=0: the SDK does not retry by itself


async def test_content_filter(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(content_filtered())

    response = await run(client, user_headers, plain)

    assert (response.status_code, response.json()) == (
        422,
        envelope("ContentFiltered", "The provider's content filter stopped the response.", None, retryable=False),
    )


async def test_slow_upstream_beyond_the_deadline(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(Text("too late", first_byte_delay=60.0))

    response = await run(client, user_headers, plain, deadline_ms=300)

    await upstream.wait_for_disconnects(1)  # the deadline stopped the model request long before its answer
    assert (response.status_code, response.json()) == (
        504,
        envelope(
            "DeadlineExceeded", "The run's deadline passed.", {"usage": IsPartialDict(tool_calls=0)}, retryable=True
        ),
    )
    await upstream.wait_for_disconnects(1)  # the model request was aborted, not left running


async def test_slow_chunks_within_the_deadline_complete(
    client: httpx.AsyncClient, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(Text("slow but fine", first_byte_delay=0.1, chunk_delay=0.05))

    events = await stream(client, user_headers, plain, deadline_ms=5000)

    assert (events[-1].event, events[-1].data["output"]) == ("run.completed", "slow but fine")


async def test_hanging_upstream_and_client_disconnect_cancels_the_run(
    app: FastAPI, user_headers: dict[str, str], upstream: ScriptedUpstream, plain: str
) -> None:
    upstream.script(Hang())
    async with live_client(app) as live:
        async with live.stream(
            "POST", f"/agents/{plain}/run/stream", json={"input": "Hello?"}, headers=user_headers
        ) as response:
            assert response.status_code == 200
            events = iter_sse(response)
            started = await anext(events)  # not a `break`: that would close the connection at once
            run_id = started.data["run_id"]
            assert started.event == "run.started"
            await upstream.wait_for_requests(1)
        # The client is gone: the run stops, its model request is aborted and it is stored cancelled.
        await upstream.wait_for_disconnects(1)
        stored = await wait_for_status(live, run_id, "cancelled", headers=user_headers)

    assert stored == IsPartialDict(status="cancelled", output=None, usage=IsPartialDict(tool_calls=0))
    events = await stored_events(app, run_id)
    assert [(seq, name) for seq, name, _ in events] == [(1, "run.started"), (2, "run.cancelled")]


async def test_external_tool_round_trip_over_the_real_model(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    await register_upstream(client, admin_headers, upstream)
    lookup = {
        "type": "external",
        "name": "customer_balance",
        "parameters": {"type": "object", "properties": {"customer": {"type": "string"}}, "required": ["customer"]},
    }
    await define_agent(client, user_headers, "ext", tools=[lookup])
    upstream.script(
        ToolCalls(ToolCall("customer_balance", {"customer": "ada"}, id="call_bal")), Text("Ada has 12 EUR.")
    )

    paused = await run(client, user_headers, "ext")
    assert (paused.status_code, paused.json()["status"], paused.json()["deferred"]) == (
        200,
        "requires_action",
        {
            "calls": [{"tool_call_id": "call_bal", "tool_name": "customer_balance", "args": {"customer": "ada"}}],
            "approvals": [],
        },
    )
    resumed = await client.post(
        f"/runs/{paused.json()['run_id']}/resume",
        json={"tool_results": {"call_bal": {"eur": 12}}},
        headers=user_headers,
    )

    assert (resumed.status_code, resumed.json()["status"], resumed.json()["output"]) == (
        200,
        "completed",
        "Ada has 12 EUR.",
    )
    tool_message = upstream.chat_requests[1].body["messages"][-1]
    assert (tool_message["tool_call_id"], tool_message["content"]) == ("call_bal", '{"eur":12}')


async def test_sdk_retries_follow_model_max_retries(
    app: FastAPI, settings: Settings, upstream: ScriptedUpstream
) -> None:
    """`model_max_retries=1`: the SDK retries a 500 once by itself, so the upstream sees two requests."""
    retrying = create_app(settings.model_copy(update={"model_max_retries": 1}))
    async with retrying.router.lifespan_context(retrying):
        transport = httpx.ASGITransport(app=retrying)
        async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as http:
            admin = await auth_headers(retrying, "root2", role="admin")
            user = await auth_headers(retrying, "bob")
            await register_upstream(http, admin, upstream)
            await define_agent(http, user, "retry")
            upstream.script(server_error(), Text("second time lucky"))

            response = await run(http, user, "retry")

    assert (response.status_code, response.json()["output"], len(upstream.chat_requests)) == (
        200,
        "second time lucky",
        2,
    )
