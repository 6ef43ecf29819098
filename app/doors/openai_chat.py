"""`POST /v1/chat/completions`: OpenAI Chat Completions onto the run pipeline (API.md §6.1).

Mapping (no run logic here: `Admission` starts or resumes the run, the `Follower` reads its end):

- ``model`` → the agent (``name`` or ``name@version``, `app.doors.openai_common.resolve_model`).
- ``system``/``developer`` messages → `RunExtras.instructions`: added to the agent's own
  instructions for this run (pydantic-ai's per-run ``instructions``, which it sends before the
  definition's), in message order; they are not history.
- the last ``user`` message → the run's ``input``; every earlier turn → pydantic-ai
  ``message_history`` (assistant ``tool_calls`` → `ToolCallPart`, ``tool`` messages → `ToolReturnPart`).
- function ``tools`` → `RunExtras.tools`: ``external`` tools of this run only. When the model
  calls one the run ends ``requires_action`` and the answer ends with ``finish_reason: "tool_calls"``.
- a request ending with ``tool`` messages continues: if they answer exactly the pending calls of a
  paused run of the caller on this agent (not resumed yet), that run is resumed (`Admission.resume`,
  the continuation is linked by ``parent_run_id`` and keeps every message the server saw, including
  its own tool calls); otherwise the whole conversation is the history of a new run.
- ``temperature``, ``top_p``, ``max_tokens``/``max_completion_tokens``, ``presence_penalty``,
  ``frequency_penalty``, ``seed``, ``stop``, ``logit_bias``, ``parallel_tool_calls`` → ``model_settings``;
  ``metadata`` → the run's metadata. ``user``, ``store``, ``service_tier``, ``prompt_cache_key``,
  ``safety_identifier`` and ``stream_options.include_obfuscation`` are hints and ignored. Anything else
  that would change the answer (``n`` > 1, ``logprobs``, a ``tool_choice`` other than ``auto``, …)
  or that OpenAI does not know is a 400 naming the parameter.
"""

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse, TextPart
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import CurrentPrincipal
from app.auth.service import Principal
from app.db import SessionDep
from app.doors import openai_messages as convert
from app.doors.openai_common import (
    Target,
    caller_tools,
    check_extra_parameters,
    check_output_format,
    resolve_model,
    unix,
)
from app.doors.openai_errors import UnsupportedParameter, openai_error, openai_error_responses
from app.runs import streaming
from app.runs.events import RunEventOut
from app.runs.models import Run, RunExtras
from app.runs.queries import error_of_terminal
from app.runs.router import AdmissionDep, ClientGoneDep, ExecutorDep, FollowerDep, IdempotencyKey, RequestId
from app.runs.schemas import Deferred, ResumeRequest, RunRequest, RunResult, Usage
from app.runs.service import Admission, StartedRun

router = APIRouter(prefix="/v1", tags=["openai"])

PAUSED_RUNS_SEARCHED = 20
"""How many of the caller's newest paused runs on the agent are searched for the pending tool calls."""
IGNORED = frozenset(
    {"user", "store", "service_tier", "prompt_cache_key", "safety_identifier", "prompt_cache_retention"}
)
REFUSED_UNLESS_DEFAULT: dict[str, Any] = {
    "n": 1,
    "logprobs": False,
    "top_logprobs": None,
    "functions": None,
    "function_call": None,
    "audio": None,
    "prediction": None,
    "web_search_options": None,
    "reasoning_effort": None,
    "verbosity": None,
}


class StreamOptions(BaseModel):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class FunctionIn(BaseModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(BaseModel):
    type: Literal["function"]
    function: FunctionIn


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; parameters not listed here are checked by name (see module doc)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="An agent name, or `name@version`.")
    messages: list[convert.ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolIn] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    logit_bias: dict[str, int] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None


def check_parameters(body: ChatRequest, definition: dict[str, Any]) -> None:
    """A 400 for every parameter Axon would otherwise silently not honour."""
    check_extra_parameters(body.model_extra or {}, IGNORED, REFUSED_UNLESS_DEFAULT, allow_null={"n"})
    if body.tool_choice not in (None, "auto"):
        raise UnsupportedParameter("tool_choice", 'Only `tool_choice: "auto"` is supported.')
    check_output_format(body.response_format, definition.get("output_schema"), "response_format")


def model_settings(body: ChatRequest) -> dict[str, Any] | None:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    settings = {
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "presence_penalty": body.presence_penalty,
        "frequency_penalty": body.frequency_penalty,
        "seed": body.seed,
        "stop_sequences": stop,
        "logit_bias": body.logit_bias,
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    return {key: value for key, value in settings.items() if value is not None} or None


async def find_paused(
    session: AsyncSession, principal: Principal, target: Target, ids: set[str], idempotency_key: str | None
) -> Run | None:
    """The caller's newest paused (not yet resumed) run on this agent whose pending calls are exactly ``ids``;
    or, for a retry, the run this ``Idempotency-Key`` already resumed (`Admission.resume` then replays)."""
    if idempotency_key is not None:
        done = await session.scalar(
            select(Run).where(Run.owner_id == principal.user_id, Run.idempotency_key == idempotency_key)
        )
        if done is not None and done.parent_run_id is not None:
            return await session.get(Run, done.parent_run_id)
    rows = await session.scalars(
        select(Run)
        .where(
            Run.owner_id == principal.user_id,
            Run.agent_id == target.agent.id,
            Run.status == "requires_action",
            Run.resumed_by.is_(None),
        )
        .order_by(Run.created_at.desc())
        .limit(PAUSED_RUNS_SEARCHED)
    )
    for run in rows:
        deferred = Deferred.model_validate(run.deferred or {"calls": [], "approvals": []})
        if {call.tool_call_id for call in deferred.calls} == ids and not deferred.approvals:
            return run
    return None


@dataclass
class ChatCall:
    """A started chat completion: its run and how to answer."""

    started: StartedRun
    model: str
    stream: bool
    include_usage: bool
    structured: bool
    spec_hash: str


async def _start_chat(
    body: ChatRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    admission: AdmissionDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
) -> ChatCall:
    target = await resolve_model(session, principal, body.model)
    definition = target.version.definition
    check_parameters(body, definition)
    chat = convert.conversation(body.messages)
    tools = [
        (f"tools.{i}.function", t.function.name, t.function.parameters, t.function.description)
        for i, t in enumerate(body.tools or [])
    ]
    extras = RunExtras(instructions=chat.instructions, tools=caller_tools(tools, target.version))
    settings = model_settings(body)
    started = await _admit(
        session, principal, admission, target, body, chat, extras, settings, idempotency_key, request_id
    )
    return ChatCall(
        started=started,
        model=body.model,
        stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        structured=definition.get("output_schema") is not None,
        spec_hash=started.run.spec_hash,
    )


async def _admit(
    session: AsyncSession,
    principal: Principal,
    admission: Admission,
    target: Target,
    body: ChatRequest,
    chat: convert.Conversation,
    extras: RunExtras,
    settings: dict[str, Any] | None,
    idempotency_key: str | None,
    request_id: str | None,
) -> StartedRun:
    if chat.tool_results:
        parent = await find_paused(session, principal, target, set(chat.tool_results), idempotency_key)
        if parent is not None:
            resume = ResumeRequest(tool_results=chat.tool_results, model_settings=settings, metadata=body.metadata)
            return await admission.resume(
                session, principal, parent, resume, idempotency_key, request_id=request_id, extras=extras
            )
    run = RunRequest(
        input=chat.input,
        message_history=chat.history or None,
        version=target.pinned,
        model_settings=settings,
        metadata=body.metadata,
    )
    mode = "stream" if body.stream else "sync"
    return await admission.start(
        session, principal, target.agent, run, idempotency_key, mode=mode, request_id=request_id, extras=extras
    )


StartedChat = Annotated[ChatCall, Depends(_start_chat)]


# -- answers ----------------------------------------------------------------------------------


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _content(result: RunResult, structured: bool) -> str | None:
    if result.status == "completed":
        if structured or not isinstance(result.output, str):
            return _json(result.output)
        return result.output
    messages = ModelMessagesTypeAdapter.validate_python(result.messages)
    last = next((m for m in reversed(messages) if isinstance(m, ModelResponse)), None)
    texts = [part.content for part in last.parts if isinstance(part, TextPart)] if last else []
    return "".join(texts) or None


def _tool_calls(result: RunResult) -> list[dict[str, Any]]:
    calls = result.deferred.calls if result.deferred else []
    return [
        {
            "id": call.tool_call_id,
            "type": "function",
            "function": {
                "name": call.tool_name,
                "arguments": call.args if isinstance(call.args, str) else _json(call.args),
            },
        }
        for call in calls
    ]


def completion(call: ChatCall, result: RunResult) -> dict[str, Any]:
    """A `chat.completion` object for a finished (completed or paused) run."""
    tool_calls = _tool_calls(result)
    message: dict[str, Any] = {"role": "assistant", "content": _content(result, call.structured), "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": str(result.run_id),
        "object": "chat.completion",
        "created": unix(result.started_at) or 0,
        "model": call.model,
        "system_fingerprint": call.spec_hash,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if result.status == "requires_action" else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(result.usage),
    }


async def chunks(call: ChatCall, events: AsyncGenerator[RunEventOut]) -> AsyncGenerator[ServerSentEvent]:
    """`chat.completion.chunk`s for the run's events, then ``[DONE]`` (an error chunk for a failed run)."""
    run = call.started.run
    base: dict[str, Any] = {
        "id": str(run.id),
        "object": "chat.completion.chunk",
        "created": unix(run.created_at) or 0,
        "model": call.model,
        "system_fingerprint": call.spec_hash,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> ServerSentEvent:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _data({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if event.event == "text.delta" and not call.structured:
                yield chunk({"content": event.data["delta"]})
            elif event.event in ("run.completed", "run.requires_action"):
                result = RunResult.model_validate(event.data)
                if result.status == "completed" and call.structured:
                    yield chunk({"content": _content(result, True)})
                tool_calls = [{"index": i, **c} for i, c in enumerate(_tool_calls(result))]
                if tool_calls:
                    yield chunk({"tool_calls": tool_calls})
                yield chunk({}, "tool_calls" if tool_calls else "stop")
                if call.include_usage:
                    yield _data({**base, "choices": [], "usage": _usage(result.usage)})
                yield ServerSentEvent(raw_data="[DONE]")
            elif event.terminal:
                error = error_of_terminal(event)
                envelope = error.envelope(event.data.get("request_id"))
                yield _data({"error": openai_error(envelope, error.status_code)})
    finally:
        await events.aclose()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _data(payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(raw_data=_json(payload))


@router.post(
    "/chat/completions",
    response_model=None,
    summary="OpenAI Chat Completions: run an agent",
    responses={
        200: {"content": {"text/event-stream": {}}},
        **openai_error_responses(400, 401, 404, 409, 429, 502, 503, 504),
    },
    description="Runs the agent named by `model` (`name` or `name@version`) as a stored run (`id` is the run id: "
    "`GET /runs/{id}` shows it). `system` messages are added to the agent's instructions, the last `user` "
    "message is the input and earlier turns the history; function `tools` are external tools of this run and a "
    'call ends the answer with `finish_reason: "tool_calls"`; the next request with the `tool` messages resumes '
    "the paused run. `stream: true` answers `chat.completion.chunk`s and `data: [DONE]` "
    "(`stream_options.include_usage` adds the usage chunk); a run that fails mid-stream sends an `error` chunk. "
    "Errors have OpenAI's shape with the Axon envelope's fields inside `error` and `x-should-retry`.",
)
async def chat_completions(
    call: StartedChat, follower: FollowerDep, executor: ExecutorDep, client_gone: ClientGoneDep
) -> JSONResponse | EventSourceResponse:
    started = call.started
    if call.stream:
        events = streaming.follow_started(follower, executor, started, "cancel")
        return streaming.sse_response(chunks(call, events))
    result = await streaming.answer(follower, executor, started, None, "cancel", client_gone)
    assert isinstance(result, RunResult)  # without wait_ms the answer is the result (or the run's error)
    return JSONResponse(completion(call, result))
