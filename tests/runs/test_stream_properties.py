"""A property over many scripted streams: ids from 1 without gaps, ``run_id``/``seq`` in every
``data``, exactly one terminal event and it is the last one, and the stored events equal the
streamed ones — on success, requires_action, every kind of failure, and client cancels.

Runs go through the real wire (uvicorn on loopback) to the real OpenAI chat model and the
scripted upstream; the scripts come from a seeded random generator, so a failure names a
reproducible script.
"""

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.doubles.axon import define_agent, live_client, register_upstream, stored_events
from tests.doubles.openai_upstream import (
    Hang,
    Reply,
    ScriptedUpstream,
    Text,
    ToolCall,
    ToolCalls,
    content_filtered,
    context_length_exceeded,
    output,
    rate_limited,
    scripted_upstream,
    server_error,
    unauthorized,
)
from tests.runs.sse import SSEEvent, iter_sse
from tests.waits import wait_for_status

SEED = 20_261_121
SCRIPTS = 36
TERMINAL = {"run.completed", "run.requires_action", "run.failed", "run.cancelled"}
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["answer", "confidence"],
}
LOOKUP = {
    "type": "external",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
}


@dataclass
class Script:
    kind: str
    agent: str
    replies: list[Reply]
    expect: str
    """The terminal event the stream (or, after a cancel, the stored run) ends with."""
    body: dict[str, Any] = field(default_factory=dict[str, Any])
    cancel_after: int | None = None
    """Disconnect after reading this many events."""


def _text(rng: random.Random) -> Text:
    words = rng.sample(WORDS, rng.randint(1, 6))
    return Text(" ".join(words), chunks=rng.randint(1, 4))


def _calc(rng: random.Random) -> ToolCall:
    return ToolCall("calculator", {"expression": f"{rng.randint(1, 99)}*{rng.randint(1, 99)}"})


def _error(rng: random.Random) -> Reply:
    make: Callable[[], Reply] = rng.choice(
        [rate_limited, server_error, unauthorized, context_length_exceeded, content_filtered]
    )
    return make()


def make_script(rng: random.Random) -> Script:
    kind = rng.choice(
        [
            "text",
            "tool",
            "parallel_tools",
            "bad_tool_args",
            "external",
            "tool_then_external",
            "error",
            "error_after_tool",
            "output_recovers",
            "output_exhausted",
            "deadline",
            "cancel_waiting",
            "cancel_after_tool",
        ]
    )
    match kind:
        case "text":
            return Script(kind, "plain", [_text(rng)], "run.completed")
        case "tool":
            return Script(kind, "plain", [ToolCalls(_calc(rng)), _text(rng)], "run.completed")
        case "parallel_tools":
            return Script(kind, "plain", [ToolCalls(_calc(rng), _calc(rng)), _text(rng)], "run.completed")
        case "bad_tool_args":
            bad = ToolCalls(ToolCall("calculator", '{"expression": '))
            return Script(kind, "plain", [bad, ToolCalls(_calc(rng)), _text(rng)], "run.completed")
        case "external":
            return Script(kind, "plain", [ToolCalls(ToolCall("lookup", {"key": "k"}))], "run.requires_action")
        case "tool_then_external":
            replies: list[Reply] = [ToolCalls(_calc(rng)), ToolCalls(ToolCall("lookup", {"key": "k"}))]
            return Script(kind, "plain", replies, "run.requires_action")
        case "error":
            return Script(kind, "plain", [_error(rng)], "run.failed")
        case "error_after_tool":
            return Script(kind, "plain", [ToolCalls(_calc(rng)), _error(rng)], "run.failed")
        case "output_recovers":
            replies = [output({"answer": "a", "confidence": 5}), output({"answer": "a", "confidence": 0.5})]
            return Script(kind, "typed", replies, "run.completed")
        case "output_exhausted":
            replies = [output({"answer": "a"}), output({"confidence": 2})]
            return Script(kind, "typed", replies, "run.failed")
        case "deadline":
            return Script(kind, "plain", [Text("late", first_byte_delay=3.0)], "run.failed", {"deadline_ms": 150})
        case "cancel_waiting":
            return Script(kind, "plain", [Hang()], "run.cancelled", cancel_after=1)
        case _:
            replies = [ToolCalls(_calc(rng)), Hang()]
            return Script(kind, "plain", replies, "run.cancelled", cancel_after=rng.randint(1, 3))


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as server:
        yield server


async def _stream(live: httpx.AsyncClient, headers: dict[str, str], script: Script) -> list[SSEEvent]:
    got: list[SSEEvent] = []
    body = {"input": "go", **script.body}
    async with live.stream("POST", f"/agents/{script.agent}/run/stream", json=body, headers=headers) as response:
        assert response.status_code == 200
        async for event in iter_sse(response):
            got.append(event)
            if script.cancel_after is not None and len(got) == script.cancel_after:
                break
    return got


def _check_numbering(events: list[tuple[int, str, dict[str, Any]]], run_id: str) -> None:
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert all(data["run_id"] == run_id and data["seq"] == seq for seq, _, data in events)


async def test_every_stream_is_numbered_and_ends_exactly_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    upstream: ScriptedUpstream,
) -> None:
    await register_upstream(client, admin_headers, upstream)
    tools = [{"type": "builtin", "name": "calculator"}, LOOKUP]
    await define_agent(client, user_headers, "plain", tools=tools)
    await define_agent(client, user_headers, "typed", output_schema=ANSWER_SCHEMA, retries={"output": 1})
    rng = random.Random(SEED)
    seen_kinds: set[str] = set()

    async with live_client(app) as live:
        for number in range(SCRIPTS):
            script = make_script(rng)
            seen_kinds.add(script.kind)
            upstream.script(*script.replies)
            streamed = await _stream(live, user_headers, script)
            where = f"script #{number} (seed {SEED}): {script.kind}"

            run_id = streamed[0].data["run_id"]
            as_tuples = [(int(e.id or 0), e.event or "", e.data) for e in streamed]
            _check_numbering(as_tuples, run_id)
            assert streamed[0].event == "run.started", where
            if script.cancel_after is None:
                assert [e.event in TERMINAL for e in streamed].count(True) == 1, where
                assert streamed[-1].event == script.expect, where
                stored = await stored_events(app, run_id)
                assert stored == as_tuples, where
            else:
                assert not any(e.event in TERMINAL for e in streamed), where
                await wait_for_status(live, run_id, "cancelled", headers=user_headers)
                await upstream.wait_idle()  # a model request in flight was aborted
                upstream.clear()  # replies the cancelled run never asked for
                stored = await stored_events(app, run_id)
                _check_numbering(stored, run_id)
                assert stored[: len(as_tuples)] == as_tuples, where
                assert [name in TERMINAL for _, name, _ in stored].count(True) == 1, where
                assert stored[-1][1] == "run.cancelled", where
            assert upstream.remaining == 0, where

    assert len(seen_kinds) >= 10  # the seed covers most kinds of script
