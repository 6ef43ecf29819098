"""The `RunExecutor`: drives ``agent.run`` for every run this process executes.

One execution path for every kind of run. A sync or streamed run gets its own asyncio task
(`start`); a background run executes in its DBOS workflow's task (`run_inline`). Either way the
executor turns pydantic-ai events into numbered run events (`RunChannel`), stores them in ordered
batches (short transactions of their own, never across model latency), then stores the run's end
with `app.runs.store` and only then publishes the terminal event.
"""

import asyncio
import contextvars
import logging
import uuid
from collections.abc import AsyncIterable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from dbos._error import DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError
from pydantic_ai import Agent, CancellationToken, DeferredToolRequests, capture_run_messages
from pydantic_ai import exceptions as pai
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.models import Model
from pydantic_ai.tools import RunContext
from pydantic_ai.usage import RunUsage

from app.config import Settings
from app.db import Database, utcnow
from app.errors import AppError, Cancelled, Interrupted
from app.observability import logging as logs
from app.observability import metrics
from app.runs import store
from app.runs.errors import ShuttingDown, map_exception
from app.runs.events import EventTranslator, LiveChannels, RunChannel, derive_events
from app.runs.models import RunStatus
from app.runs.notify import Notifier
from app.runs.schemas import Deferred, RunResult, Usage
from app.runs.spec import RunSpec
from app.runtime import ModelResolver, RunDeps, RunServices

logger = logging.getLogger("axon.runs")

DURABLE_CANCELLATION = (DBOSWorkflowCancelledError, DBOSWorkflowConflictIDError)
"""How DBOS stops a cancelled workflow at its next step (or a preemptible step at once)."""
_FIRST_TOKEN_EVENTS = frozenset({"text.delta", "thinking.delta", "output.delta", "tool.call"})


class AgentBuilder(Protocol):
    """`app.agents.build.AgentFactory`: a cached pydantic-ai agent per stored version."""

    async def get(self, version: Any) -> Agent[RunDeps, Any]: ...


@dataclass
class _Outcome:
    status: RunStatus
    output: Any = None
    deferred: Deferred | None = None
    error: AppError | None = None
    messages: list[ModelMessage] = field(default_factory=list[ModelMessage])


class RunExecutor:
    """Owns the tasks and live channels of the runs this process executes."""

    services: RunServices
    """What a run's tools may call (sub-runs, the webhook client): bound by the app after admission exists."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        notifier: Notifier,
        agents: AgentBuilder,
        worker: str,
        model_resolver: ModelResolver | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        """This process's executor id: every run row it executes names it (``worker``)."""
        self.database = database
        self.notifier = notifier
        self.agents = agents
        self.model_resolver = model_resolver
        self.accepting = True
        self.live: LiveChannels = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tokens: dict[str, CancellationToken] = {}
        self._interrupted: set[str] = set()
        self._inline: dict[str, asyncio.Task[Any]] = {}  # background runs, each in its DBOS workflow's task
        self._cancel_requested: set[str] = set()
        self._detached: set[str] = set()

    def model_for(self, agent_name: str) -> Model | None:
        return self.model_resolver(agent_name) if self.model_resolver is not None else None

    def check_accepting(self) -> None:
        if not self.accepting:
            raise ShuttingDown("The server is shutting down; retry on another instance.", retry_after=1.0)

    def executing(self, run_id: str) -> bool:
        return run_id in self.live

    # -- starting and stopping -----------------------------------------------------------

    def start(self, spec: RunSpec) -> RunChannel:
        """Start the run's task (its row is already stored). The run is isolated in a fresh context."""
        self.check_accepting()
        key = str(spec.run_id)
        channel = RunChannel(key)
        self.live[key] = channel
        self._tokens[key] = CancellationToken()
        self._tasks[key] = asyncio.create_task(self._execute(spec, channel), context=contextvars.Context())
        return channel

    async def run_inline(self, spec: RunSpec, agent: Agent[RunDeps, Any]) -> None:
        """Execute a background run in the calling task (its DBOS workflow)."""
        key = str(spec.run_id)
        task = asyncio.current_task()
        assert task is not None
        channel = RunChannel(key, start_seq=spec.start_seq)
        self.live[key] = channel
        self._inline[key] = task
        try:
            await self._execute(spec, channel, agent)
        finally:
            self._inline.pop(key, None)
            self._cancel_requested.discard(key)
            self._detached.discard(key)

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

    # -- execution -------------------------------------------------------------------------

    async def _execute(
        self, spec: RunSpec, channel: RunChannel, durable_agent: Agent[RunDeps, Any] | None = None
    ) -> None:
        key = str(spec.run_id)
        logs.bind(run_id=key, agent=spec.agent.name, owner=spec.principal.username, request_id=spec.request_id)
        usage = RunUsage()
        deps = RunDeps(
            vars=spec.deps_vars,
            run_id=key,
            principal=spec.principal,
            agent_id=uuid.UUID(spec.agent.id),
            agent_name=spec.agent.name,
            services=self.services,
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
            if name == "tool.result":
                metrics.record_tool_result(data["tool_name"], data["outcome"])
            channel.emit(name, data)
            wake.set()

        async def on_events(_ctx: RunContext[RunDeps], events: AsyncIterable[Any]) -> None:
            async for event in events:
                for name, data in translator.translate(event):
                    emit(name, data)

        if spec.start_seq == 0:
            session_id = str(spec.session_id) if spec.session_id else None
            emit("run.started", {"agent": spec.agent.model_dump(), "session_id": session_id})
        history = spec.message_history
        outcome: _Outcome
        external_cancel: BaseException | None = None
        agent: Agent[RunDeps, Any] | None = durable_agent
        metrics.RUNS_ACTIVE.inc()
        with capture_run_messages() as captured:
            try:
                agent = durable_agent or await self.agents.get(spec.version)
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
                    instructions=spec.instructions or None,
                    toolsets=spec.toolsets or None,
                    event_stream_handler=on_events if streamed else None,
                )
                if isinstance(result.output, DeferredToolRequests):
                    outcome = _Outcome("requires_action", deferred=Deferred.of(result.output))
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
                derive_events(translator, outcome.messages, agent, emit, first_token_at)
            if detached:  # shutting down: store what we have, leave the run to be resumed
                await self._store_batch(channel, channel.take_unsaved())
                channel.close()
            else:
                await self._finish(spec, channel, outcome, usage, first_token_at)

        # A cancelled task can be cancelled again while it stores its end (a DBOS workflow cancel and
        # our own cancel both land): the end is written and published all the same.
        try:
            late_cancel = await _complete_despite_cancellation(conclude())
        finally:
            if not channel.finished.is_set():  # concluding failed: followers read the database
                channel.close()
            self.live.pop(key, None)
            self._tasks.pop(key, None)
            self._tokens.pop(key, None)
            self._interrupted.discard(key)
            metrics.RUNS_ACTIVE.dec()
        external_cancel = external_cancel or late_cancel
        if detached:
            raise external_cancel or asyncio.CancelledError()
        if external_cancel is not None:
            raise external_cancel

    def _failure(
        self, key: str, exc: BaseException, usage: RunUsage, deps: RunDeps, partial: list[ModelMessage]
    ) -> _Outcome:
        used = Usage.of(usage).model_dump()
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
        status: RunStatus = "cancelled" if error.error_type == "Cancelled" else "failed"
        return _Outcome(status, error=error, messages=messages)

    async def _finish(
        self, spec: RunSpec, channel: RunChannel, outcome: _Outcome, usage: RunUsage, first_token_at: list[Any]
    ) -> None:
        """Store the end, then publish it: a terminal event is never published for an end that was not stored."""
        finished_at = utcnow()
        messages = ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json")
        used = Usage.of(usage).model_dump()
        end = store.RunEnd(
            status=outcome.status,
            usage=used,
            finished_at=finished_at,
            messages=messages,
            first_token_at=first_token_at[0] if first_token_at else None,
        )
        if outcome.status == "failed":
            error = outcome.error or Interrupted("The run ended without a result.")
            error.run_id = str(spec.run_id)
            end.error = error.envelope(spec.request_id).model_dump(mode="json")
            terminal = channel.make("run.failed", end.error)
        elif outcome.status == "cancelled":
            terminal = channel.make("run.cancelled", {"usage": used})
        else:
            result = RunResult(
                run_id=spec.run_id,
                status=outcome.status,
                agent=spec.agent,
                output=outcome.output,
                usage=Usage.model_validate(used),
                messages=messages,
                deferred=outcome.deferred,
                started_at=spec.started_at,
                finished_at=finished_at,
                duration_ms=round((finished_at - spec.started_at).total_seconds() * 1000),
            ).model_dump(mode="json")
            end.output, end.deferred = result["output"], result["deferred"]
            terminal = channel.make(f"run.{outcome.status}", result)
        if spec.session_id is not None and outcome.status == "completed":
            end.session_history = [*ModelMessagesTypeAdapter.dump_python(spec.message_history, mode="json"), *messages]
        stored = await store.end_executed(
            self.database,
            spec.run_id,
            end,
            channel.take_unsaved(),
            spec.session_id,
            self.settings.terminal_write_patience_seconds,
        )
        self.live.pop(channel.run_id, None)  # its end is in the database now: new followers read it there
        if stored:
            self._record_end(spec, outcome, end)
            await self.notifier.events_stored(channel.run_id)
            channel.publish(terminal)
        else:  # ended by someone else, or the database is away: followers read the stored end
            channel.close()

    def _record_end(self, spec: RunSpec, outcome: _Outcome, end: store.RunEnd) -> None:
        mode = "background" if str(spec.run_id) in self._inline else "agent_tool" if spec.lineage else "stream"
        error_type = outcome.error.error_type if outcome.error is not None else None
        logger.info("run ended %s", outcome.status, extra={"error_type": error_type})
        metrics.record_run_end(  # a few counter increments
            agent=spec.agent.name,
            mode=mode if spec.streamed else "sync",
            status=outcome.status,
            error_type=error_type,
            duration_s=(end.finished_at - spec.started_at).total_seconds(),
            first_event_s=(end.first_token_at - spec.started_at).total_seconds() if end.first_token_at else None,
            messages=outcome.messages,
        )

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

    async def _store_batch(self, channel: RunChannel, batch: list[Any]) -> None:
        if not batch:
            return
        try:
            await store.store_events(self.database, uuid.UUID(channel.run_id), batch)
        except Exception:
            logger.warning("could not store events of run %s; keeping them for the next batch", channel.run_id)
            channel.unsaved[:0] = batch
            return
        await self.notifier.events_stored(channel.run_id)


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
