"""`/v1/responses`: the Open Responses specification (OpenAI's Responses API) onto the run pipeline.

A response is a stored run (same id: `GET /runs/{id}` shows it). Mapping, besides what
`app.doors.openai_chat` does for messages and tools:

- ``input`` (a string or items) and ``instructions``: ``system``/``developer`` items and
  ``instructions`` → `RunExtras.instructions`; the last ``user`` message is the run's input; earlier
  items are history (``function_call`` / ``function_call_output`` items as tool calls and returns).
- ``previous_response_id``: the new run continues that run's conversation (its history and new
  messages). If that run is paused on the caller's function calls and ``input`` is exactly the
  ``function_call_output`` items for them, it is resumed (`Admission.resume`); a paused run can only
  be continued that way (400 otherwise). As in OpenAI's API, ``instructions`` and ``tools`` are not
  carried over: send them again.
- ``background: true`` → a durable background run (`status: "queued"`); ``stream: true`` → the typed
  events; ``max_output_tokens``, ``temperature``, ``top_p``, ``parallel_tool_calls`` →
  ``model_settings``; ``max_tool_calls`` → ``usage_limits.tool_calls_limit``; ``metadata`` → the run's.
- Ignored hints: ``store`` (every response is stored), ``user``, ``service_tier``, ``truncation``,
  ``include``, ``prompt_cache_key``, ``safety_identifier``, ``stream_options``. Refused (400):
  ``reasoning``, ``prompt``, ``conversation``, ``top_logprobs``, non-function tools, a ``tool_choice``
  other than ``auto``, a ``text.format`` that conflicts with the agent's output, unknown parameters.
"""

import json
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import CurrentPrincipal
from app.auth.service import Principal
from app.db import SessionDep
from app.doors import openai_messages as convert
from app.doors.open_responses_objects import RunState, StreamWriter, chat_messages, input_items, response_object
from app.doors.openai_common import Target, caller_tools, check_extra_parameters, check_output_format, resolve_model
from app.doors.openai_errors import UnsupportedParameter, openai_error_responses
from app.errors import Conflict
from app.runs import cancel, queries, streaming
from app.runs.events import RunEventOut
from app.runs.models import Run, RunExtras, UsageLimitsIn
from app.runs.router import (
    AdmissionDep,
    BackgroundDep,
    ClientGoneDep,
    ExecutorDep,
    FollowerDep,
    IdempotencyKey,
    RequestId,
)
from app.runs.schemas import Deferred, ResumeRequest, RunRequest, RunResult, Usage
from app.runs.service import Admission, StartedRun

router = APIRouter(prefix="/v1", tags=["openai"])

IGNORED = frozenset(
    {
        "store",
        "user",
        "service_tier",
        "truncation",
        "include",
        "prompt_cache_key",
        "safety_identifier",
        "stream_options",
        "prompt_cache_retention",
    }
)
REFUSED_UNLESS_DEFAULT: dict[str, Any] = {"reasoning": None, "prompt": None, "conversation": None, "top_logprobs": None}


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesRequest(BaseModel):
    """The Open Responses create request; parameters not listed are checked by name (see module doc)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="An agent name, or `name@version`.")
    input: str | list[dict[str, Any]] = Field(description="A user message, or a list of input items.")
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Any = None
    previous_response_id: str | None = None
    stream: bool = False
    background: bool = False
    metadata: dict[str, str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    max_tool_calls: int | None = Field(default=None, ge=0)
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None


def _check(body: ResponsesRequest, definition: dict[str, Any]) -> None:
    check_extra_parameters(body.model_extra or {}, IGNORED, REFUSED_UNLESS_DEFAULT, allow_null=set())
    if body.tool_choice not in (None, "auto"):
        raise UnsupportedParameter("tool_choice", 'Only `tool_choice: "auto"` is supported.')
    for index, tool in enumerate(body.tools or []):
        if tool.type != "function" or not tool.name:
            raise UnsupportedParameter(f"tools.{index}.type", f"Only function tools are supported (not {tool.type!r}).")
    check_output_format((body.text or {}).get("format"), definition.get("output_schema"), "text.format")


def _settings(body: ResponsesRequest) -> dict[str, Any] | None:
    settings = {
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_tokens": body.max_output_tokens,
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    return {key: value for key, value in settings.items() if value is not None} or None


@dataclass
class ResponseCall:
    started: StartedRun
    stream: bool
    background: bool


async def _start_response(
    body: ResponsesRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> ResponseCall:
    target = await resolve_model(session, principal, body.model)
    definition = target.version.definition
    _check(body, definition)
    tools = [(f"tools.{i}", t.name or "", t.parameters, t.description) for i, t in enumerate(body.tools or [])]
    messages = chat_messages(
        [{"type": "message", "role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    )
    extras = RunExtras(tools=caller_tools(tools, target.version))
    previous = await _previous(session, principal, body.previous_response_id)
    door = {
        "model": body.model,
        "instructions": body.instructions,
        "tools": [t.model_dump(exclude_none=True) | {"strict": t.strict or False} for t in body.tools or []],
        "previous_response_id": body.previous_response_id,
        "structured": definition.get("output_schema") is not None,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": body.max_tool_calls,
        "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
        "text_format": (body.text or {}).get("format"),
    }
    started = await _admit(
        session, principal, admission, target, body, messages, extras, door, previous, idempotency_key, request_id
    )
    return ResponseCall(started, body.stream, body.background)


async def _previous(session: AsyncSession, principal: Principal, response_id: str | None) -> Run | None:
    if response_id is None:
        return None
    try:
        run_id = uuid.UUID(response_id)
    except ValueError:
        raise UnsupportedParameter("previous_response_id", f"No response {response_id!r}.") from None
    run = await queries.get_run(session, principal, run_id)
    if run.status not in ("completed", "requires_action"):
        raise Conflict(
            f"The previous response is {run.status}; only a completed one can be continued.",
            details={"param": "previous_response_id", "status": run.status},
            run_id=str(run.id),
        )
    return run


async def _admit(
    session: AsyncSession,
    principal: Principal,
    admission: Admission,
    target: Target,
    body: ResponsesRequest,
    messages: list[Any],
    extras: RunExtras,
    door: dict[str, Any],
    previous: Run | None,
    idempotency_key: str | None,
    request_id: str | None,
) -> StartedRun:
    instructions = [body.instructions] if body.instructions else []
    limits = UsageLimitsIn(tool_calls_limit=body.max_tool_calls) if body.max_tool_calls is not None else None
    if previous is not None and previous.status == "requires_action":
        if previous.agent_id != target.agent.id:
            raise UnsupportedParameter("model", f"The previous response waits on agent {previous.agent_name!r}.")
        pending = Deferred.model_validate(previous.deferred or {"calls": [], "approvals": []})
        outputs = {m.tool_call_id: m.content for m in messages if isinstance(m, convert.ToolMessage)}
        # An already resumed one goes on to `resume` too: an Idempotency-Key retry replays, else a 409.
        if len(outputs) != len(messages) or set(outputs) != {c.tool_call_id for c in pending.calls}:
            raise UnsupportedParameter(
                "input",
                "The previous response is waiting for the output of its function calls "
                f"({', '.join(c.tool_call_id for c in pending.calls)}): send exactly those `function_call_output` items.",
            )
        extras.instructions = instructions
        extras.door = door | {"input": body.input}
        resume = ResumeRequest(
            tool_results={key: convert.text_of(value, "input") for key, value in outputs.items()},
            model_settings=_settings(body),
            usage_limits=limits,
            metadata=body.metadata,
        )
        return await admission.resume(
            session, principal, previous, resume, idempotency_key, request_id=request_id, extras=extras
        )
    chat = convert.conversation(messages, "input")
    extras.instructions = instructions + chat.instructions
    prefix: list[dict[str, Any]] = [*(previous.message_history or []), *(previous.messages or [])] if previous else []
    run = RunRequest(
        input=chat.input,
        message_history=[*prefix, *chat.history] or None,
        version=target.pinned,
        model_settings=_settings(body),
        usage_limits=limits,
        metadata=body.metadata,
    )
    extras.door = door | {"input": body.input}
    mode = "background" if body.background else "stream" if body.stream else "sync"
    return await admission.start(
        session, principal, target.agent, run, idempotency_key, mode=mode, request_id=request_id, extras=extras
    )


StartedResponse = Annotated[ResponseCall, Depends(_start_response)]


async def _events(call: ResponseCall, events: AsyncGenerator[RunEventOut]) -> AsyncGenerator[ServerSentEvent]:
    run = call.started.run
    writer = StreamWriter(run)
    opening = response_object(run)
    for kind in ("response.created", "response.in_progress"):
        name, data = writer.event(kind, response=opening)
        yield _sse(name, data)
    try:
        async for event in events:
            if event.event == "text.delta":
                for name, data in writer.delta(event.data["delta"]):
                    yield _sse(name, data)
            elif event.terminal:
                state = _state_of(run, event)
                for name, data in writer.end(response_object(run, state), state):
                    yield _sse(name, data)
    finally:
        await events.aclose()


def _sse(name: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=name, raw_data=json.dumps(data, separators=(",", ":")))


def _state_of(run: Run, event: RunEventOut) -> RunState:
    if event.event in ("run.completed", "run.requires_action"):
        result = RunResult.model_validate(event.data)
        return RunState(
            result.status, result.output, result.deferred, result.usage, result.messages, None, result.finished_at
        )
    status = "failed" if event.event == "run.failed" else "cancelled"
    details: dict[str, Any] = event.data.get("details") or {}
    usage = Usage.model_validate(details.get("usage") or event.data.get("usage") or {})
    return RunState(status, None, None, usage, [], event.data if status == "failed" else None, None)


_ERRORS = openai_error_responses(400, 401, 404, 409, 429, 502, 503, 504)
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "The response, or its typed events."}
}


@router.post(
    "/responses",
    response_model=None,
    summary="Open Responses: run an agent",
    responses={**_STREAM, **_ERRORS},
    description="Creates a response: a stored run of the agent named by `model` (`id` = the run id). `input` is a "
    "string or items (`message`, `function_call`, `function_call_output`); `instructions` and system items are "
    "added to the agent's instructions; function `tools` are external tools of this run (a call ends the response "
    "with `function_call` output items); `previous_response_id` continues a stored response's conversation (and "
    "resumes it when it waits for `function_call_output`s). `stream: true` answers the typed events "
    "(`response.created` … `response.completed`, each with `sequence_number`); `background: true` answers at "
    'once with `status: "queued"` (poll `GET /v1/responses/{id}`, cancel with `POST …/cancel`). A failed '
    "synchronous run answers with the OpenAI-shaped error and its status.",
)
async def create_response(
    call: StartedResponse, follower: FollowerDep, executor: ExecutorDep, client_gone: ClientGoneDep
) -> JSONResponse | EventSourceResponse:
    started = call.started
    if call.stream:
        on_disconnect = "continue" if call.background else "cancel"
        events = streaming.follow_started(follower, executor, started, on_disconnect)
        return streaming.sse_response(_events(call, events))
    if call.background:
        return JSONResponse(response_object(started.run))
    result = await streaming.answer(follower, executor, started, None, "cancel", client_gone)
    assert isinstance(result, RunResult)  # without wait_ms the answer is the result (or the run's error)
    state = RunState(
        result.status, result.output, result.deferred, result.usage, result.messages, None, result.finished_at
    )
    return JSONResponse(response_object(started.run, state))


async def _visible_response(response_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Run:
    return await queries.get_run(session, principal, response_id)


VisibleResponse = Annotated[Run, Depends(_visible_response)]


@router.get(
    "/responses/{response_id}",  # noqa: FAST003 (resolved by a dependency)
    summary="Open Responses: get a response",
    responses=openai_error_responses(401, 404),
    description="The response (run) as it is now: `queued`, `in_progress`, `completed`, `failed` or `cancelled`.",
)
async def get_response(run: VisibleResponse) -> dict[str, Any]:
    return response_object(run)


@router.post(
    "/responses/{response_id}/cancel",  # noqa: FAST003 (resolved by a dependency)
    summary="Open Responses: cancel a response",
    responses=openai_error_responses(401, 404, 409),
    description="Cancels a queued or running response (any run, background or not) and answers it once it has "
    'stopped (`status: "cancelled"`); cancelling a cancelled one answers it again; a completed or failed one '
    "is a `409`.",
)
async def cancel_response(
    run: VisibleResponse, session: SessionDep, background: BackgroundDep, follower: FollowerDep
) -> dict[str, Any]:
    await cancel.cancel_run(session, background, follower, run)
    await session.refresh(run)
    return response_object(run)


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


@router.get(
    "/responses/{response_id}/input_items",  # noqa: FAST003 (resolved by a dependency)
    summary="Open Responses: the input items of a response",
    responses=openai_error_responses(401, 404),
    description="The items the request sent as `input` (a string input is one user message), in order, each with "
    "an `id`. All of them in one page (`has_more` is false).",
)
async def list_input_items(run: VisibleResponse) -> InputItemList:
    extras = run.run_options.extras
    raw: Any = (extras.door or {}).get("input") if extras else None
    items = input_items(raw if raw is not None else str(run.input or ""), run.id)
    return InputItemList(
        data=items, first_id=items[0]["id"] if items else None, last_id=items[-1]["id"] if items else None
    )
