"""Run endpoints (API.md §3.2-3.4). Everything that can fail before a stream opens is resolved
in dependencies, so auth, unknown agents, invalid bodies and idempotency conflicts are
ordinary HTTP errors with the envelope."""

import uuid
from collections.abc import AsyncIterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.agents.deps import VisibleAgent
from app.auth.deps import CurrentPrincipal
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import error_responses
from app.pagination import Page, PageDep
from app.runs import cancel, service, streaming
from app.runs.background import Background
from app.runs.manager import RunManager
from app.runs.models import Run
from app.runs.schemas import OnDisconnect, ResumeRequest, RunAccepted, RunOut, RunRequest, RunResult, RunStatus
from app.runs.service import StartedRun

router = APIRouter(tags=["runs"])


async def _run_manager(request: Request) -> RunManager:
    manager: RunManager = request.app.state.run_manager
    return manager


RunManagerDep = Annotated[RunManager, Depends(_run_manager)]


async def _background(request: Request) -> Background:
    background: Background = request.app.state.background
    return background


BackgroundDep = Annotated[Background, Depends(_background)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry safely: the same key and body return (or attach to) the same run; "
        "another body with the same key is a 409.",
    ),
]
OnDisconnectQuery = Annotated[
    OnDisconnect,
    Query(description="`cancel` (default) stops the run when the client goes away; `continue` lets it finish."),
]
WaitMs = Annotated[
    int | None,
    Query(ge=0, description="Answer `202` with the `run_id` if the run is not finished after this many ms."),
]


async def _owned_run(run_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Run:
    return await service.get_owned_run(session, principal, run_id)


OwnedRun = Annotated[Run, Depends(_owned_run)]


async def _started_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    manager: RunManagerDep,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await service.start_run(session, manager, settings, principal, agent, body, idempotency_key)


async def _started_sync_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    manager: RunManagerDep,
    idempotency_key: IdempotencyKey = None,
    wait_ms: WaitMs = None,
) -> StartedRun:
    # Without `wait_ms` nobody follows the run live: the model is called without streaming.
    return await service.start_run(
        session, manager, settings, principal, agent, body, idempotency_key, streamed=wait_ms is not None
    )


async def _resumed_run(
    parent: OwnedRun,
    body: ResumeRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    manager: RunManagerDep,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await service.resume_run(session, manager, settings, principal, parent, body, idempotency_key)


async def _background_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    manager: RunManagerDep,
    background: BackgroundDep,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await service.start_run(session, manager, settings, principal, agent, body, idempotency_key, background)


async def _replay_from(
    run: OwnedRun,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="Replay the events after this sequence number.")] = 0,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
) -> int:
    start = last_event_id if last_event_id is not None else after
    await service.check_replayable(session, run, start)
    return start


StartedRunDep = Annotated[StartedRun, Depends(_started_run)]
StartedSyncRunDep = Annotated[StartedRun, Depends(_started_sync_run)]
BackgroundRunDep = Annotated[StartedRun, Depends(_background_run)]
ReplayFrom = Annotated[int, Depends(_replay_from)]
ResumedRunDep = Annotated[StartedRun, Depends(_resumed_run)]


async def _client_gone(request: Request) -> streaming.ClientGone:
    return streaming.client_gone(request)


ClientGoneDep = Annotated[streaming.ClientGone, Depends(_client_gone)]

_RUN_ERRORS = error_responses(401, 404, 409, 413, 502, 503, 504)
_ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"model": RunAccepted, "description": "`wait_ms` passed."}}


@router.post(
    "/agents/{agent}/run",  # noqa: FAST003 (resolved by a dependency)
    summary="Run an agent and wait for the result",
    response_model=RunResult,
    responses={**_ACCEPTED, **_RUN_ERRORS},
    description="Runs the agent and answers with the RunResult (`completed` or `requires_action`). A failed run "
    "answers with the error envelope (carrying `run_id`) and its status. With `?wait_ms=N` the answer is `202` "
    "with `run_id` and `events_url` if the run is not done in time; it keeps running. Without `wait_ms` the "
    "model is called without streaming (as pydantic-ai's `agent.run()` does) and the run's stored events are "
    "derived from its messages when it ends: one `text.delta` with the whole text per text part (one "
    "`output.delta` with the whole output when structured), `thinking.delta`, `tool.call`/`tool.result`, then "
    "the terminal event, numbered without gaps; a client attaching meanwhile gets them when the run ends.",
)
async def run_agent(
    started: StartedSyncRunDep,
    manager: RunManagerDep,
    client_gone: ClientGoneDep,
    wait_ms: WaitMs = None,
    on_disconnect: OnDisconnectQuery = "cancel",
) -> RunResult | JSONResponse:
    return await streaming.answer(manager, started, wait_ms, on_disconnect, client_gone)


@router.post(
    "/agents/{agent}/run/stream",  # noqa: FAST003 (resolved by a dependency)
    summary="Run an agent as a Server-Sent Events stream",
    response_class=EventSourceResponse,
    responses=_RUN_ERRORS,
    description="Events of API.md §3.3: `id:` is the run's sequence number from 1 without gaps, every `data` "
    "carries `run_id` and `seq`, `: ping` after 15 s of silence, and exactly one terminal event "
    "(`run.completed`, `run.requires_action`, `run.failed`, `run.cancelled`) before the stream closes.",
)
async def run_agent_stream(
    started: StartedRunDep, manager: RunManagerDep, on_disconnect: OnDisconnectQuery = "cancel"
) -> AsyncIterable[ServerSentEvent]:
    async for event in streaming.events_of(manager, started, on_disconnect):
        yield event


@router.post(
    "/runs/{run_id}/resume",  # noqa: FAST003 (resolved by a dependency)
    summary="Continue a run that requires action",
    response_model=RunResult,
    responses={**_ACCEPTED, **_RUN_ERRORS, 200: {"content": {"text/event-stream": {}}}},
    description="Answer every pending call: `tool_results`, `tool_errors` (the model sees the message) and "
    "`approvals`. The continuation is a new run with `parent_run_id`; a run is resumed at most once (409 after). "
    "`?stream=true` answers as `POST /agents/{agent}/run/stream` does.",
)
async def resume_run(
    started: ResumedRunDep,
    manager: RunManagerDep,
    client_gone: ClientGoneDep,
    stream: Annotated[bool, Query(description="Answer as an SSE stream.")] = False,
    wait_ms: WaitMs = None,
    on_disconnect: OnDisconnectQuery = "cancel",
) -> Any:
    if stream:
        return streaming.sse_response(streaming.events_of(manager, started, on_disconnect))
    return await streaming.answer(manager, started, wait_ms, on_disconnect, client_gone)


@router.get(
    "/runs/{run_id}",  # noqa: FAST003 (resolved by a dependency)
    summary="Get a run",
    responses=error_responses(401, 404),
)
async def get_run(run: OwnedRun) -> RunOut:
    return service.to_out(run)


@router.get(
    "/runs",
    summary="List your runs, newest first",
    responses=error_responses(401),
)
async def list_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    agent: Annotated[str | None, Query(description="Agent id or name.")] = None,
    status: Annotated[RunStatus | None, Query()] = None,
    session_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[RunOut]:
    items, cursor = await service.list_runs(session, principal, page, agent=agent, status=status, session_id=session_id)
    return Page[RunOut](items=items, next_cursor=cursor)


@router.get(
    "/runs/{run_id}/events",  # noqa: FAST003 (resolved by a dependency)
    summary="Replay a run's events, then follow it live",
    response_class=EventSourceResponse,
    responses=error_responses(401, 404, 409),
    description="Stored events after `Last-Event-ID` (header) or `?after=N`, then live until the terminal event, "
    "whichever process runs the run and across restarts. If retention already deleted events after that "
    "position the answer is `409 Conflict` (`details.first_available_seq`), never a stream with a gap.",
)
async def run_events(run: OwnedRun, manager: RunManagerDep, start: ReplayFrom) -> AsyncIterable[ServerSentEvent]:
    async for event in streaming.replay(manager, run.id, start):
        yield event


@router.post(
    "/agents/{agent}/runs",  # noqa: FAST003 (resolved by a dependency)
    status_code=202,
    summary="Start a background run",
    responses=_RUN_ERRORS,
    description="Stores the run `queued` and hands it to the durable queue; follow it at `events_url` or "
    "`GET /runs/{run_id}`. It survives restarts and crashes (resumed on any replica without repeating completed "
    "model requests). Concurrency is capped globally and per owner; when too many runs wait the answer is "
    "`503 Overloaded` with `Retry-After`. With the same `Idempotency-Key` and body the same run is answered.",
)
async def start_background_run(started: BackgroundRunDep) -> RunAccepted:
    run = started.run
    return RunAccepted(run_id=str(run.id), status=run.status, events_url=streaming.events_url(run.id))  # pyright: ignore[reportArgumentType]


@router.post(
    "/runs/{run_id}/cancel",  # noqa: FAST003 (resolved by a dependency)
    summary="Cancel a run",
    response_model=RunOut,
    responses={
        202: {"model": cancel.CancelPending, "description": "Still stopping."},
        **error_responses(401, 404, 409),
    },
    description="Cancels a queued, running or requires_action run (pending approvals are cleared) on whichever "
    "process runs it, and answers the run (`cancelled`, usage so far) once it has stopped, or `202` with "
    "`cancel_pending` if it has not stopped within the server's wait. Idempotent; a completed or failed run is "
    "`409 Conflict`. Its event stream ends with `run.cancelled`.",
)
async def cancel_run(run: OwnedRun, session: SessionDep, background: BackgroundDep) -> Any:
    result = await cancel.cancel_run(session, background, run)
    return result if isinstance(result, RunOut) else JSONResponse(result.model_dump(), status_code=202)
