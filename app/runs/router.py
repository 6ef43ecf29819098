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
from app.db import SessionDep
from app.errors import error_responses, request_id_of
from app.pagination import Page, PageDep
from app.runs import cancel, queries, streaming
from app.runs.background import Background
from app.runs.executor import RunExecutor
from app.runs.follow import Follower
from app.runs.models import Run, RunStatus
from app.runs.schemas import CancelPending, OnDisconnect, ResumeRequest, RunAccepted, RunOut, RunRequest, RunResult
from app.runs.service import Admission, RunMode, StartedRun

router = APIRouter(tags=["runs"])


async def _admission(request: Request) -> Admission:
    admission: Admission = request.app.state.admission
    return admission


async def _executor(request: Request) -> RunExecutor:
    executor: RunExecutor = request.app.state.run_executor
    return executor


async def _follower(request: Request) -> Follower:
    follower: Follower = request.app.state.follower
    return follower


async def _background(request: Request) -> Background:
    background: Background = request.app.state.background
    return background


async def _request_id(request: Request) -> str | None:
    return request_id_of(request)


AdmissionDep = Annotated[Admission, Depends(_admission)]
ExecutorDep = Annotated[RunExecutor, Depends(_executor)]
FollowerDep = Annotated[Follower, Depends(_follower)]
BackgroundDep = Annotated[Background, Depends(_background)]
RequestId = Annotated[str | None, Depends(_request_id)]
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
    Query(
        ge=0, le=2**31 - 1, description="Answer `202` with the `run_id` if the run is not finished after this many ms."
    ),
]


async def _visible_run(run_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Run:
    return await queries.get_run(session, principal, run_id)


VisibleRun = Annotated[Run, Depends(_visible_run)]
"""The ``{run_id}`` of the path: the caller's own run (any run for an admin), else 404 ``NotFound``."""


async def _started_sync_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
    wait_ms: WaitMs = None,
) -> StartedRun:
    # Without `wait_ms` nobody follows the run live: the model is called without streaming.
    mode: RunMode = "sync" if wait_ms is None else "stream"
    return await admission.start(session, principal, agent, body, idempotency_key, mode=mode, request_id=request_id)


async def _started_stream_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await admission.start(session, principal, agent, body, idempotency_key, mode="stream", request_id=request_id)


async def _started_background_run(
    agent: VisibleAgent,
    body: RunRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await admission.start(
        session, principal, agent, body, idempotency_key, mode="background", request_id=request_id
    )


async def _resumed_run(
    parent: VisibleRun,
    body: ResumeRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> StartedRun:
    return await admission.resume(session, principal, parent, body, idempotency_key, request_id=request_id)


async def _replay_from(
    run: VisibleRun,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="Replay the events after this sequence number.")] = 0,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**31 - 1)] = None,
) -> int:
    start = last_event_id if last_event_id is not None else after
    await queries.check_replayable(session, run, start)
    return start


StartedSyncRun = Annotated[StartedRun, Depends(_started_sync_run)]
StartedStreamRun = Annotated[StartedRun, Depends(_started_stream_run)]
StartedBackgroundRun = Annotated[StartedRun, Depends(_started_background_run)]
ResumedRun = Annotated[StartedRun, Depends(_resumed_run)]
ReplayFrom = Annotated[int, Depends(_replay_from)]


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
    started: StartedSyncRun,
    follower: FollowerDep,
    executor: ExecutorDep,
    client_gone: ClientGoneDep,
    wait_ms: WaitMs = None,
    on_disconnect: OnDisconnectQuery = "cancel",
) -> RunResult | JSONResponse:
    return await streaming.answer(follower, executor, started, wait_ms, on_disconnect, client_gone)


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
    started: StartedStreamRun,
    follower: FollowerDep,
    executor: ExecutorDep,
    on_disconnect: OnDisconnectQuery = "cancel",
) -> AsyncIterable[ServerSentEvent]:
    async for event in streaming.events_of(follower, executor, started, on_disconnect):
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
    started: ResumedRun,
    follower: FollowerDep,
    executor: ExecutorDep,
    client_gone: ClientGoneDep,
    stream: Annotated[bool, Query(description="Answer as an SSE stream.")] = False,
    wait_ms: WaitMs = None,
    on_disconnect: OnDisconnectQuery = "cancel",
) -> RunResult | JSONResponse | EventSourceResponse:
    if stream:
        return streaming.sse_response(streaming.events_of(follower, executor, started, on_disconnect))
    return await streaming.answer(follower, executor, started, wait_ms, on_disconnect, client_gone)


@router.get(
    "/runs/{run_id}",  # noqa: FAST003 (resolved by a dependency)
    summary="Get a run",
    responses=error_responses(401, 404),
)
async def get_run(run: VisibleRun) -> RunOut:
    return RunOut.model_validate(run)


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
    items, cursor = await queries.list_runs(session, principal, page, agent=agent, status=status, session_id=session_id)
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
async def run_events(run: VisibleRun, follower: FollowerDep, start: ReplayFrom) -> AsyncIterable[ServerSentEvent]:
    async for event in streaming.replay(follower, run.id, start):
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
async def start_background_run(started: StartedBackgroundRun) -> RunAccepted:
    run = started.run
    return RunAccepted(run_id=run.id, status=run.status, events_url=streaming.events_url(run.id))


@router.post(
    "/runs/{run_id}/cancel",  # noqa: FAST003 (resolved by a dependency)
    summary="Cancel a run",
    response_model=RunOut,
    responses={
        202: {"model": CancelPending, "description": "Still stopping."},
        **error_responses(401, 404, 409),
    },
    description="Cancels a queued, running or requires_action run (pending approvals are cleared) on whichever "
    "process runs it, and answers the run (`cancelled`, usage so far) once it has stopped, or `202` with "
    "`cancel_pending` if it has not stopped within the server's wait. Idempotent; a completed or failed run is "
    "`409 Conflict`. Its event stream ends with `run.cancelled`.",
)
async def cancel_run(
    run: VisibleRun, session: SessionDep, background: BackgroundDep, follower: FollowerDep
) -> RunOut | JSONResponse:
    result = await cancel.cancel_run(session, background, follower, run)
    return result if isinstance(result, RunOut) else JSONResponse(result.model_dump(mode="json"), status_code=202)
