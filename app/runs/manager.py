"""The process-wide `RunManager`: every run executes in its own asyncio task here.

One execution path for every endpoint. The task drives ``agent.run`` with an event
handler, turns pydantic-ai events into our numbered events (`RunChannel`), stores them in
small ordered batches (their own short transactions) and finishes the run row and the
terminal event in one transaction *before* subscribers see the terminal event, so a client
that reads ``GET /runs/{id}`` after the stream ends sees the final state. No transaction
is open while the model is thinking.
"""

import asyncio
import contextvars
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from dbos._error import DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError
from pydantic_ai import Agent, CancellationToken, DeferredToolRequests, DeferredToolResults, capture_run_messages
from pydantic_ai import exceptions as pai
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse, UserContent
from pydantic_ai.models import Model
from pydantic_ai.tools import RunContext
from pydantic_ai.usage import RunUsage, UsageLimits
from sqlalchemy import insert, update

from app.auth.service import Principal
from app.config import Settings
from app.db import Database, utcnow
from app.errors import AppError, Cancelled, Interrupted, ToolError
from app.runs.errors import ShuttingDown, error_from_envelope, map_exception
from app.runs.events import EventTranslator, RunChannel, RunEventOut
from app.runs.models import Run, RunEvent
from app.runs.notify import Notifier
from app.runs.schemas import AgentRef, Deferred, DeferredCall, RunResult, Usage
from app.runtime import ModelResolver, RunDeps, SubRunResult
from app.sessions import service as sessions

logger = logging.getLogger("axon.runs")

DURABLE_CANCELLATION = (DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError)
"""How DBOS stops a cancelled workflow at its next step (or a preemptible step at once)."""
_FIRST_TOKEN_EVENTS = frozenset({"text.delta", "thinking.delta", "output.delta", "tool.call"})


class AgentBuilder(Protocol):
    """`app.agents.build.AgentFactory`: a cached pydantic-ai agent per stored version."""

    async def get(self, version: Any) -> Agent[RunDeps, Any]: ...


@dataclass
class RunSpec:
    """Everything one run needs, resolved and validated before its task starts."""

    run_id: uuid.UUID
    principal: Principal
    agent: AgentRef
    version_row: Any
    """The stored `AgentVersion` the factory builds from."""
    structured: bool
    user_prompt: str | Sequence[UserContent] | None
    message_history: list[ModelMessage] | None
    deferred_tool_results: DeferredToolResults | None
    deps_vars: dict[str, Any]
    model_settings: dict[str, Any] | None
    usage_limits: UsageLimits
    deadline_s: float
    lineage: tuple[uuid.UUID, ...] = ()
    started_at: Any = field(default_factory=utcnow)
    session_id: uuid.UUID | None = None
    """The session the run extends; its history is replaced when the run completes."""
    capabilities: list[Any] = field(default_factory=list[Any])
    """Per-run capabilities (the session's tool restriction)."""
    start_seq: int = 0
    """Events already stored (a resumed background run numbers on from here, without a new `run.started`)."""
    streamed: bool = True
    """Stream the model's answers and relay events live. ``False`` (a plain sync run, nobody follows it
    live): the model is called without streaming and the run's events are derived from its new
    messages when it ends, then stored with the terminal event in one transaction."""


def usage_of(usage: RunUsage) -> Usage:
    return Usage(
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        tool_calls=usage.tool_calls,
    )


def _deferred_of(requests: DeferredToolRequests) -> Deferred:
    def call(part: Any) -> DeferredCall:
        try:
            args = part.args_as_dict()
        except ValueError:
            args = part.args
        return DeferredCall(tool_call_id=part.tool_call_id, tool_name=part.tool_name, args=args)

    return Deferred(calls=[call(p) for p in requests.calls], approvals=[call(p) for p in requests.approvals])


@dataclass
class _Outcome:
    status: str
    output: Any = None
    deferred: Deferred | None = None
    error: AppError | None = None
    messages: list[ModelMessage] = field(default_factory=list[ModelMessage])


class RunManager:
    """Owns the tasks of the runs this process executes; also the runs' `RunServices`."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        agents: AgentBuilder,
        webhook_client: httpx.AsyncClient,
        model_resolver: ModelResolver | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.agents = agents
        self.webhook_client = webhook_client
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.model_resolver = model_resolver
        self.accepting = True
        self._channels: dict[str, RunChannel] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tokens: dict[str, CancellationToken] = {}
        self._interrupted: set[str] = set()
        self._inline: dict[str, asyncio.Task[Any]] = {}
        """Background runs executing in a DBOS workflow's own task."""
        self._cancel_requested: set[str] = set()
        self._detached: set[str] = set()
        self.notifier: Notifier | None = None
        self.versions: OrderedDict[tuple[uuid.UUID, int], Any] = OrderedDict()
        """(agent id, version) → its `AgentVersion` row; versions are immutable once stored."""

    def model_for(self, agent_name: str) -> Model | None:
        return self.model_resolver(agent_name) if self.model_resolver is not None else None

    def remember_version(self, key: tuple[uuid.UUID, int], version: Any) -> None:
        self.versions[key] = version
        while len(self.versions) > max(1, self.settings.agent_cache_size):
            self.versions.popitem(last=False)

    # -- starting and following runs -------------------------------------------------

    def check_accepting(self) -> None:
        if not self.accepting:
            raise ShuttingDown("The server is shutting down; retry on another instance.", retry_after=1.0)

    def start(self, spec: RunSpec) -> RunChannel:
        """Start the run's task (its row is already stored). The run is isolated in a fresh context."""
        self.check_accepting()
        key = str(spec.run_id)
        channel = RunChannel(key)
        self._channels[key] = channel
        self._tokens[key] = CancellationToken()
        task = asyncio.create_task(self._execute(spec, channel), context=contextvars.Context())
        self._tasks[key] = task
        return channel

    def channel(self, run_id: str) -> RunChannel | None:
        return self._channels.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a live run of this process to stop; it ends ``cancelled`` with the usage so far."""
        token = self._tokens.get(run_id)
        if token is not None:
            token.cancel()
            return True
        task = self._inline.get(run_id)
        if task is None:
            return False
        self._cancel_requested.add(run_id)
        task.get_loop().call_soon_threadsafe(task.cancel)
        return True

    def detach(self, run_id: str) -> None:
        """Stop executing a background run here without ending it: it stays pending for a restart or
        another replica (graceful shutdown). Events emitted so far are stored."""
        task = self._inline.get(run_id)
        if task is not None:
            self._detached.add(run_id)
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def run_inline(self, spec: RunSpec, agent: Agent[RunDeps, Any]) -> None:
        """Execute a background run in the calling task (its DBOS workflow)."""
        key = str(spec.run_id)
        task = asyncio.current_task()
        assert task is not None
        channel = RunChannel(key, start_seq=spec.start_seq)
        self._channels[key] = channel
        self._inline[key] = task
        try:
            await self._execute(spec, channel, agent)
        finally:
            self._inline.pop(key, None)
            self._cancel_requested.discard(key)
            self._detached.discard(key)

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting runs, give in-flight ones ``grace_seconds``, then interrupt the rest.

        An interrupted run ends ``failed`` with ``Interrupted`` and a ``run.failed`` event.
        """
        self.accepting = False
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)
        for run_id in list(self._tokens):
            self._interrupted.add(run_id)
            self._tokens[run_id].cancel()
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)

    # -- RunServices -------------------------------------------------------------------

    async def run_subagent(self, parent: RunDeps, agent_ref: str, user_input: str) -> SubRunResult:
        """Run another agent visible to the parent's principal as a child run and return its output."""
        from app.runs import service

        async with self.database.sessionmaker() as session:
            channel, run_id = await service.start_child_run(session, self, parent, agent_ref, user_input)
        terminal = await self.wait(run_id, channel, None)
        assert terminal is not None
        data = terminal.data
        if terminal.event != "run.completed":
            error = data if terminal.event == "run.failed" else {"error_type": "Cancelled", "message": "cancelled"}
            message = error.get("message", "the sub-agent did not complete")
            raise ToolError(f"Agent {agent_ref!r} failed: {message}", details={"run_id": run_id, "error": error})
        used = Usage.model_validate(data.get("usage") or {})
        return SubRunResult(
            run_id=run_id,
            output=data.get("output"),
            usage=RunUsage(
                requests=used.requests,
                input_tokens=used.input_tokens,
                output_tokens=used.output_tokens,
                tool_calls=used.tool_calls,
            ),
        )

    async def wait(self, run_id: str, channel: RunChannel | None, timeout_s: float | None) -> RunEventOut | None:
        """The terminal event of a run (live here, or stored), or None if ``timeout_s`` passes first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        channel = channel or self.channel(run_id)
        if channel is not None:
            try:
                await asyncio.wait_for(channel.finished.wait(), timeout_s)
            except TimeoutError:
                return None
            return channel.terminal
        from app.runs import service

        while True:
            async with self.database.sessionmaker() as session:
                terminal = await service.stored_terminal(session, uuid.UUID(run_id))
            if terminal is not None:
                return terminal
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.2)

    # -- execution ---------------------------------------------------------------------

    async def _execute(
        self, spec: RunSpec, channel: RunChannel, durable_agent: Agent[RunDeps, Any] | None = None
    ) -> None:
        key = str(spec.run_id)
        usage = RunUsage()
        deps = RunDeps(
            vars=spec.deps_vars,
            run_id=key,
            principal=spec.principal,
            agent_id=uuid.UUID(spec.agent.id),
            agent_name=spec.agent.name,
            services=self,
            lineage=spec.lineage,
        )
        translator = EventTranslator(structured=spec.structured)
        first_token_at: list[Any] = []
        wake = asyncio.Event()
        streamed = spec.streamed or durable_agent is not None
        flusher = asyncio.create_task(self._flush_loop(channel, wake)) if streamed else None

        def emit(name: str, data: dict[str, Any]) -> None:
            if not first_token_at and name in _FIRST_TOKEN_EVENTS:
                first_token_at.append(utcnow())
            channel.emit(name, data)
            wake.set()

        async def on_events(_ctx: RunContext[RunDeps], events: AsyncIterable[Any]) -> None:
            async for event in events:
                for name, data in translator.translate(event):
                    emit(name, data)

        if spec.start_seq == 0:
            session_id = str(spec.session_id) if spec.session_id else None
            emit("run.started", {"agent": spec.agent.model_dump(), "session_id": session_id})
        history = spec.message_history or []
        outcome: _Outcome
        external_cancel: BaseException | None = None
        agent: Agent[RunDeps, Any] | None = durable_agent
        with capture_run_messages() as captured:
            try:
                agent = durable_agent or await self.agents.get(spec.version_row)
                result = await agent.run(
                    spec.user_prompt,
                    message_history=history or None,
                    deferred_tool_results=spec.deferred_tool_results,
                    deps=deps,
                    model=None if durable_agent else self.model_for(spec.agent.name),
                    model_settings=spec.model_settings,  # pyright: ignore[reportArgumentType]
                    usage_limits=spec.usage_limits,
                    timeout=spec.deadline_s,
                    usage=usage,
                    cancellation_token=None if durable_agent else self._tokens[key],
                    capabilities=spec.capabilities or None,
                    event_stream_handler=on_events if streamed else None,
                )
                if isinstance(result.output, DeferredToolRequests):
                    outcome = _Outcome("requires_action", deferred=_deferred_of(result.output))
                else:
                    outcome = _Outcome("completed", output=result.output)
                outcome.messages = result.new_messages()
            except (asyncio.CancelledError, *DURABLE_CANCELLATION) as exc:
                external_cancel = exc
                outcome = self._failure(key, exc, usage, deps, captured[len(history) :])
            except Exception as exc:
                outcome = self._failure(key, exc, usage, deps, captured[len(history) :])
        detached = key in self._detached

        async def conclude() -> None:
            if flusher is not None:
                flusher.cancel()
                await asyncio.gather(flusher, return_exceptions=True)
            else:
                self._derive_events(translator, outcome.messages, agent, emit, first_token_at)
            if detached:  # shutting down: store what we have, leave the run to be resumed
                await self._store_batch(channel, channel.take_unsaved())
            else:
                await self._finish(spec, channel, outcome, usage, first_token_at)

        # A cancelled task can be cancelled again while it stores its end (a DBOS workflow cancel and
        # our own cancel both land): the end is written and published all the same.
        late_cancel = await _complete_despite_cancellation(conclude())
        external_cancel = external_cancel or late_cancel
        self._channels.pop(key, None)
        self._tasks.pop(key, None)
        self._tokens.pop(key, None)
        self._interrupted.discard(key)
        channel.finished.set()
        if detached:
            raise external_cancel or asyncio.CancelledError()
        if external_cancel is not None:
            raise external_cancel

    @staticmethod
    def _derive_events(
        translator: EventTranslator,
        messages: list[ModelMessage],
        agent: Agent[RunDeps, Any] | None,
        emit: Any,
        first_token_at: list[Any],
    ) -> None:
        """The events of a run made without streaming, from its new messages; ``first_token_at`` is the
        time the first model response arrived."""
        responses = [message for message in messages if isinstance(message, ModelResponse)]
        if responses and not first_token_at:
            first_token_at.append(responses[0].timestamp)
        for name, data in translator.replay(messages, _output_tools(agent)):
            emit(name, data)

    def _failure(
        self, key: str, exc: BaseException, usage: RunUsage, deps: RunDeps, partial: list[ModelMessage]
    ) -> _Outcome:
        used = usage_of(usage).model_dump()
        messages = exc.new_messages() if isinstance(exc, pai.RunCancelled) else partial
        if key in self._cancel_requested or isinstance(exc, DURABLE_CANCELLATION):
            return _Outcome(
                "cancelled", error=Cancelled("The run was cancelled.", details={"usage": used}), messages=messages
            )
        interrupted = key in self._interrupted or isinstance(exc, asyncio.CancelledError)
        if interrupted and (isinstance(exc, asyncio.CancelledError) or type(exc) is pai.RunCancelled):
            error: AppError = Interrupted("The server stopped while the run was in progress.", details={"usage": used})
            return _Outcome("failed", error=error, messages=messages)
        error = map_exception(exc, usage=used, last_output_error=deps.last_output_error)
        status = "cancelled" if error.error_type == "Cancelled" else "failed"
        return _Outcome(status, error=error, messages=messages)

    async def _finish(
        self, spec: RunSpec, channel: RunChannel, outcome: _Outcome, usage: RunUsage, first_token_at: list[Any]
    ) -> None:
        finished_at = utcnow()
        messages = ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json")
        used = usage_of(usage)
        envelope: dict[str, Any] | None = None
        if outcome.error is not None and outcome.status == "failed":
            outcome.error.run_id = str(spec.run_id)
            envelope = outcome.error.envelope().model_dump(mode="json")
        result = RunResult(
            run_id=str(spec.run_id),
            status=outcome.status,  # pyright: ignore[reportArgumentType]
            agent=spec.agent,
            output=outcome.output,
            usage=used,
            messages=messages,
            deferred=outcome.deferred,
            started_at=spec.started_at,
            finished_at=finished_at,
            duration_ms=round((finished_at - spec.started_at).total_seconds() * 1000),
        )
        result_json = result.model_dump(mode="json")
        if outcome.status == "failed":
            terminal = channel.make("run.failed", envelope or {})
        elif outcome.status == "cancelled":
            terminal = channel.make("run.cancelled", {"usage": used.model_dump()})
        else:
            terminal = channel.make(f"run.{outcome.status}", result_json)
        values: dict[str, Any] = {
            "status": outcome.status,
            "output": result_json["output"],
            "usage": used.model_dump(),
            "messages": messages,
            "deferred": result_json["deferred"],
            "error": envelope,
            "finished_at": finished_at,
            "first_token_at": first_token_at[0] if first_token_at else None,
            "last_seq": channel.seq,
        }
        try:
            async with self.database.sessionmaker() as session, session.begin():
                await _insert_events(session, spec.run_id, channel.take_unsaved())
                await session.execute(update(Run).where(Run.id == spec.run_id).values(**values))
                if spec.session_id is not None:
                    history = [*(spec.message_history or []), *outcome.messages]
                    full = ModelMessagesTypeAdapter.dump_python(history, mode="json")
                    await sessions.finish_run(session, spec.session_id, spec.run_id, outcome.status, full)
        except Exception:
            logger.exception("could not store the end of run %s", spec.run_id)
        if self.notifier is not None:
            await self.notifier.events_stored(str(spec.run_id))
        channel.publish(terminal)

    async def _flush_loop(self, channel: RunChannel, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            await asyncio.sleep(self.settings.event_batch_seconds)
            batch = channel.take_unsaved()
            if not batch:
                continue
            write = asyncio.ensure_future(self._store_batch(channel, batch))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                await write
                raise

    async def _store_batch(self, channel: RunChannel, batch: list[RunEventOut]) -> None:
        try:
            async with self.database.sessionmaker() as session, session.begin():
                await _insert_events(session, uuid.UUID(channel.run_id), batch)
            if self.notifier is not None:
                await self.notifier.events_stored(channel.run_id)
        except Exception:
            logger.exception("could not store events of run %s; keeping them for the next batch", channel.run_id)
            channel.unsaved[:0] = batch


def _output_tools(agent: Agent[RunDeps, Any] | None) -> frozenset[str]:
    """The names of the agent's output tools (their calls are the structured output, not `tool.call`s)."""
    toolset: Any = getattr(agent, "_output_toolset", None)
    processors: dict[str, Any] = getattr(toolset, "processors", None) or {}
    return frozenset(processors)


async def _complete_despite_cancellation(work: Coroutine[Any, Any, None]) -> asyncio.CancelledError | None:
    """Run ``work`` to its end even if the calling task is cancelled meanwhile; return that cancellation."""
    future = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(future)
            return cancelled
        except asyncio.CancelledError as exc:
            cancelled = exc
            if future.done():  # the cancel landed as the work ended: keep its outcome (or failure)
                future.result()
                return cancelled


async def _insert_events(session: Any, run_id: uuid.UUID, batch: list[RunEventOut]) -> None:
    if not batch:
        return
    now = utcnow()
    rows = [{"run_id": run_id, "seq": e.seq, "event": e.event, "data": e.data, "created_at": now} for e in batch]
    await session.execute(insert(RunEvent), rows)


def error_of_terminal(event: RunEventOut) -> AppError:
    """The `AppError` a sync caller gets for a failed or cancelled run's terminal event."""
    if event.event == "run.failed":
        return error_from_envelope(event.data)
    from app.errors import Cancelled

    return Cancelled("The run was cancelled.", details={"usage": event.data.get("usage")}, run_id=event.data["run_id"])
