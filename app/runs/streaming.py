"""How a request follows its run: wait for the answer (sync) or relay the events (SSE)."""

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import pydantic_core
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, ServerSentEvent, format_sse_event

from app.runs.events import RunEventOut
from app.runs.executor import RunExecutor
from app.runs.follow import Follower
from app.runs.models import TERMINAL_STATUSES
from app.runs.queries import answer_of, error_of_terminal
from app.runs.schemas import OnDisconnect, RunAccepted, RunResult
from app.runs.service import StartedRun

PING_SECONDS = 15.0
ClientGone = Callable[[], Awaitable[None]]


def client_gone(request: Request) -> ClientGone:
    """An awaitable that returns when the client disconnects (the request body is already read)."""

    async def wait() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return wait


def events_url(run_id: uuid.UUID | str) -> str:
    return f"/runs/{run_id}/events"


async def answer(
    follower: Follower,
    executor: RunExecutor,
    started: StartedRun,
    wait_ms: int | None,
    on_disconnect: OnDisconnect,
    gone: ClientGone,
) -> RunResult | JSONResponse:
    """The sync answer: the RunResult, the run's error raised, or `202` when ``wait_ms`` passes."""
    run = started.run
    if not started.created and run.status in TERMINAL_STATUSES:
        return answer_of(run)
    waiter = asyncio.ensure_future(follower.end(run.id, None if wait_ms is None else wait_ms / 1000))
    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not waiter.done():
            waiter.cancel()
            if started.created and on_disconnect == "cancel":
                executor.cancel(str(run.id))
    terminal = waiter.result() if waiter.done() and not waiter.cancelled() else None
    if terminal is None:
        accepted = RunAccepted(run_id=run.id, status="running", events_url=events_url(run.id))
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
    if terminal.event in ("run.failed", "run.cancelled"):
        raise error_of_terminal(terminal)
    return RunResult.model_validate(terminal.data)


def to_sse(event: RunEventOut) -> ServerSentEvent:
    return ServerSentEvent(id=str(event.seq), event=event.event, raw_data=pydantic_core.to_json(event.data).decode())


async def follow_started(
    follower: Follower, executor: RunExecutor, started: StartedRun, on_disconnect: OnDisconnect
) -> AsyncGenerator[RunEventOut]:
    """A started run's events; if the client leaves before the terminal event, apply ``on_disconnect``
    (only the request that started the run cancels it; an idempotent re-attach never does)."""
    finished = False
    try:
        async for event in follower.events(started.run.id):
            finished = event.terminal
            yield event
    finally:
        if not finished and started.created and on_disconnect == "cancel":
            executor.cancel(str(started.run.id))


async def events_of(
    follower: Follower, executor: RunExecutor, started: StartedRun, on_disconnect: OnDisconnect
) -> AsyncGenerator[ServerSentEvent]:
    """Relay a run's events as our SSE (`follow_started`)."""
    events = follow_started(follower, executor, started, on_disconnect)
    try:
        async for event in events:
            yield to_sse(event)
    finally:
        await events.aclose()


async def replay(follower: Follower, run_id: uuid.UUID, after: int) -> AsyncIterator[ServerSentEvent]:
    async for event in follower.events(run_id, after):
        yield to_sse(event)


def sse_response(events: AsyncGenerator[ServerSentEvent]) -> EventSourceResponse:
    """An SSE response outside a generator endpoint (``/resume?stream=true``), with the same ``: ping``."""

    async def body() -> AsyncIterator[bytes]:
        pending: asyncio.Future[ServerSentEvent] | None = None
        try:
            while True:
                pending = pending or asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pending}, timeout=PING_SECONDS)
                if not done:
                    yield KEEPALIVE_COMMENT
                    continue
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield format_sse_event(data_str=item.raw_data, event=item.event, id=item.id)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
            await events.aclose()

    return EventSourceResponse(body(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
