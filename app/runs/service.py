"""Admission: validate a run request, settle idempotency and the session claim, store the run, start it.

Every run starts here — a request (sync, stream, background), a resume, or an `agent` tool's
delegated run. `Admission` builds the `Run` row and its `RunSpec` (`app.runs.spec.spec_of`, which
validates the input and history before anything is stored), stores the row in one short
transaction that it commits before the model is called (no transaction spans model latency, and a
SQLite writer lock held by the request never blocks the run's own writes), then hands the spec to
the executor or the run to the durable queue.
"""

import hashlib
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent, AgentVersion
from app.agents.service import get_version, get_visible_agent
from app.auth.service import Principal
from app.config import Settings
from app.db import Database, utcnow
from app.errors import AppError, ToolError
from app.runs import store
from app.runs.errors import IdempotencyConflict, InvalidRunRequest, QueueFull, RunNotResumable
from app.runs.executor import RunExecutor
from app.runs.follow import Follower
from app.runs.models import Run, RunExtras, RunOptions, UsageLimitsIn
from app.runs.queries import owner_principal
from app.runs.schemas import Deferred, ResumeRequest, RunRequest, Usage
from app.runs.spec import check_model_settings, deferred_results, spec_of
from app.runtime import RunDeps, SubRunResult
from app.sessions import service as sessions
from app.sessions.models import ChatSession
from app.tools.toolset import check_delegation

RunMode = Literal["sync", "stream", "background"]
"""``sync`` without ``wait_ms``: nobody follows the run live, so the model is called without streaming."""


class BackgroundQueue(Protocol):
    """The durable queue (`app.runs.background.Background`)."""

    def check_enabled(self) -> None: ...

    async def submit(self, run: Run) -> None: ...


@dataclass
class StartedRun:
    """A run this request created or (same ``Idempotency-Key``) found."""

    run: Run
    created: bool


def fingerprint(op: str, target: str, body: BaseModel, extras: RunExtras | None = None) -> str:
    request: dict[str, Any] = {"op": op, "target": target, "body": body.model_dump(mode="json")}
    request |= {"extras": extras.model_dump(mode="json")} if extras is not None else {}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _size_check(name: str, value: Any, limit: int) -> None:
    if value is not None and len(json.dumps(value)) > limit:
        raise InvalidRunRequest(
            f"`{name}` is larger than {limit} bytes.",
            details={"errors": [{"loc": ["body", name], "msg": f"larger than {limit} bytes"}], "limit": limit},
        )


class Admission:
    """Starts runs. Also the `RunServices` a run's tools see (sub-runs, the webhook client)."""

    background: BackgroundQueue | None = None
    """Bound by the app once the durable queue exists; without it background runs are refused."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        executor: RunExecutor,
        follower: Follower,
        webhook_client: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.database = database
        self.executor = executor
        self.follower = follower
        self.webhook_client = webhook_client
        self._versions: OrderedDict[tuple[uuid.UUID, int], AgentVersion] = OrderedDict()
        """(agent id, version) → its row; versions are immutable once stored."""

    # -- the three entrances ---------------------------------------------------------------

    async def start(
        self,
        session: AsyncSession,
        principal: Principal,
        agent: Agent,
        body: RunRequest,
        idempotency_key: str | None,
        *,
        mode: RunMode,
        request_id: str | None,
        extras: RunExtras | None = None,
    ) -> StartedRun:
        """Validate the request, store the run and start it (or find the one this key started); ``extras``: a door's."""
        self.executor.check_accepting()
        fp = fingerprint("background" if mode == "background" else "run", str(agent.id), body, extras)
        if idempotency_key and (existing := await _by_key(session, principal.user_id, idempotency_key)):
            return _replay(existing, fp)
        if body.session_id is not None and body.message_history is not None:
            raise InvalidRunRequest(
                "Send either `message_history` or `session_id`, not both.",
                details={"errors": [{"loc": ["body", "session_id"], "msg": "not together with message_history"}]},
            )
        queue = self._queue() if mode == "background" else None
        if queue is not None:
            await self._check_backlog(session)
        _size_check("deps", body.deps, self.settings.max_deps_bytes)
        _size_check("metadata", body.metadata, self.settings.max_metadata_bytes)
        version = await self._version(session, agent, body.version)
        run_id = uuid.uuid4()
        claim = None
        history = body.message_history
        if body.session_id is not None:
            claim = await sessions.claim_for_run(session, principal, body.session_id, agent.id, run_id)
            history = claim.history
        run = self._new_run(
            run_id,
            principal.user_id,
            agent,
            version,
            status="queued" if queue is not None else "running",
            input=body.input,
            deps=body.deps,
            history=history,
            options=self._options(body.model_settings, body.usage_limits, body.deadline_ms, request_id, queue, extras),
            metadata=body.metadata,
            session_id=claim.session_id if claim else None,
        )
        run.idempotency_key, run.request_fingerprint = idempotency_key, fp
        tools = claim.tools if claim else None
        spec = spec_of(run, version, principal, session_tools=tools, streamed=mode != "sync")  # validates
        started = await self._admit(session, run, fp)
        if started.created:
            if queue is not None:
                await self._enqueue(queue, run)
            else:
                self.executor.start(spec)
        return started

    async def resume(
        self,
        session: AsyncSession,
        principal: Principal,
        parent: Run,
        body: ResumeRequest,
        idempotency_key: str | None,
        *,
        request_id: str | None,
        extras: RunExtras | None = None,
    ) -> StartedRun:
        """Continue a `requires_action` run as a new run linked by ``parent_run_id`` (owned like the parent)."""
        self.executor.check_accepting()
        fp = fingerprint("resume", str(parent.id), body, extras)
        if idempotency_key and (existing := await _by_key(session, parent.owner_id, idempotency_key)):
            return _replay(existing, fp)
        if parent.status != "requires_action" or parent.resumed_by is not None or parent.deferred is None:
            raise RunNotResumable(
                f"Only a requires_action run that was not resumed yet can be resumed (this one is {parent.status}).",
                details={"status": parent.status, "resumed_by": str(parent.resumed_by) if parent.resumed_by else None},
                run_id=str(parent.id),
            )
        results = deferred_results(Deferred.model_validate(parent.deferred), body)
        _size_check("deps", body.deps, self.settings.max_deps_bytes)
        _size_check("metadata", body.metadata, self.settings.max_metadata_bytes)
        owner = await owner_principal(session, principal, parent)
        agent = await get_visible_agent(session, owner, str(parent.agent_id))
        version = await self._version(session, agent, parent.agent_version)
        kept = extras if extras is not None else parent.run_options.extras  # a door's tools and instructions
        run = self._new_run(
            uuid.uuid4(),
            parent.owner_id,
            agent,
            version,
            status="running",
            input=None,
            deps=body.deps if body.deps is not None else parent.deps,
            history=[*(parent.message_history or []), *(parent.messages or [])],
            options=self._options(body.model_settings, body.usage_limits, body.deadline_ms, request_id, None, kept),
            metadata=body.metadata if body.metadata is not None else parent.run_metadata,
            session_id=parent.session_id,
        )
        run.idempotency_key, run.request_fingerprint, run.parent_run_id = idempotency_key, fp, parent.id
        tools = None
        if parent.session_id is not None:
            tools = await session.scalar(select(ChatSession.tools).where(ChatSession.id == parent.session_id))
        spec = spec_of(run, version, owner, session_tools=tools, deferred_tool_results=results)
        started = await self._admit(session, run, fp, parent=parent)
        if started.created:
            self.executor.start(spec)
        return started

    async def run_subagent(self, parent: RunDeps, agent_ref: str, user_input: str) -> SubRunResult:
        """`RunServices`: run another agent visible to the parent's principal as a child run, return its output."""
        async with self.database.sessionmaker() as session:
            agent = await get_visible_agent(session, parent.principal, agent_ref)
            check_delegation(parent, agent.id, self.settings)
            version = await self._version(session, agent, None)
            run = self._new_run(
                uuid.uuid4(),
                parent.principal.user_id,
                agent,
                version,
                status="running",
                input=user_input,
                options=self._options(None, None, None, None, None),
            )
            run.parent_run_id = uuid.UUID(parent.run_id)
            spec = spec_of(run, version, parent.principal, lineage=(*parent.lineage, parent.agent_id))
            await self._admit(session, run, "")
        self.executor.start(spec)
        terminal = await self.follower.end(run.id)
        data = terminal.data if terminal is not None else {"message": "the sub-agent did not end"}
        if terminal is None or terminal.event != "run.completed":
            error = data if terminal is not None and terminal.event == "run.failed" else {"error_type": "Cancelled"}
            message = data.get("message", "the sub-agent was cancelled")
            raise ToolError(f"Agent {agent_ref!r} failed: {message}", details={"run_id": str(run.id), "error": error})
        used = Usage.model_validate(data.get("usage") or {})
        return SubRunResult(run_id=str(run.id), output=data.get("output"), usage=used.run_usage())

    # -- pieces ----------------------------------------------------------------------------

    def _queue(self) -> BackgroundQueue:
        queue = self.background
        if queue is None:
            raise QueueFull("Background runs are not available on this instance.", retry_after=5.0)
        queue.check_enabled()
        return queue

    def _options(
        self,
        model_settings: dict[str, Any] | None,
        usage_limits: UsageLimitsIn | None,
        deadline_ms: int | None,
        request_id: str | None,
        queue: BackgroundQueue | None,
        extras: RunExtras | None = None,
    ) -> RunOptions:
        deadline = deadline_ms or self.settings.default_deadline_ms
        if deadline > self.settings.max_deadline_ms:
            raise InvalidRunRequest(
                f"deadline_ms is above the server maximum of {self.settings.max_deadline_ms}.",
                details={
                    "errors": [{"loc": ["body", "deadline_ms"], "msg": f"at most {self.settings.max_deadline_ms}"}]
                },
            )
        return RunOptions(
            model_settings=check_model_settings(model_settings),
            usage_limits=usage_limits,
            deadline_ms=deadline,
            background=queue is not None,
            request_id=request_id,
            extras=extras,
        )

    def _new_run(
        self,
        run_id: uuid.UUID,
        owner_id: uuid.UUID,
        agent: Agent,
        version: AgentVersion,
        *,
        status: Literal["queued", "running"],
        input: Any,
        options: RunOptions,
        deps: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Run:
        """The one place a `Run` row is built. A queued run gets its executor and start time when it starts."""
        running = status == "running"
        return Run(
            id=run_id,
            owner_id=owner_id,
            agent_id=agent.id,
            agent_name=agent.name,
            agent_version=version.version,
            spec_hash=version.spec_hash,
            status=status,
            input=input,
            deps=deps,
            message_history=history or None,
            options=options.model_dump(mode="json", exclude_defaults=True),  # deadline_ms has no default: always kept
            run_metadata=metadata,
            session_id=session_id,
            worker=self.executor.worker if running else None,
            started_at=utcnow() if running else None,
            last_seq=0,
            created_at=utcnow(),
        )

    async def _admit(self, session: AsyncSession, run: Run, fp: str, *, parent: Run | None = None) -> StartedRun:
        """Store the run (and claim the parent it continues) and commit; an idempotent repeat finds the first."""
        session.add(run)
        try:
            await session.flush()
            if parent is not None:
                await _claim_parent(session, parent, run.id)
        except IntegrityError:
            await session.rollback()
            existing = await _by_key(session, run.owner_id, run.idempotency_key or "")
            if existing is None:
                raise
            return _replay(existing, fp)
        except AppError:
            await session.rollback()
            raise
        await session.commit()
        return StartedRun(run, created=True)

    async def _enqueue(self, queue: BackgroundQueue, run: Run) -> None:
        try:
            await queue.submit(run)
        except Exception as exc:
            error = QueueFull("The run could not be queued; retry.", retry_after=1.0)
            await store.end_unexecuted(self.database, run.id, "failed", error)
            raise error from exc

    async def _check_backlog(self, session: AsyncSession) -> None:
        """Admission control: refuse a background run while the queue holds ``max_queued_runs``.

        ``Retry-After`` is the time the backlog needs to drain at full concurrency, assuming a
        couple of seconds per run, clamped to 1-60 s.
        """
        queued = int(await session.scalar(select(func.count()).select_from(Run).where(Run.status == "queued")) or 0)
        if queued >= self.settings.max_queued_runs:
            wait = min(60.0, max(1.0, 2.0 * queued / self.settings.max_concurrent_runs))
            raise QueueFull(
                f"{queued} background runs are waiting; retry later.", details={"queued": queued}, retry_after=wait
            )

    async def _version(self, session: AsyncSession, agent: Agent, number: int | None) -> AgentVersion:
        """`get_version`, remembered per process (a stored version never changes; a deleted agent is a 404 first)."""
        key = (agent.id, agent.current_version if number is None else number)
        version = self._versions.get(key)
        if version is None:
            version = await get_version(session, agent, number)
            session.expunge(version)  # a rollback of this request must not expire the shared copy
            self._versions[key] = version
            while len(self._versions) > max(1, self.settings.agent_cache_size):
                self._versions.popitem(last=False)
        return version


async def _by_key(session: AsyncSession, owner_id: uuid.UUID, key: str) -> Run | None:
    return await session.scalar(select(Run).where(Run.owner_id == owner_id, Run.idempotency_key == key))


def _replay(existing: Run, fp: str) -> StartedRun:
    if existing.request_fingerprint != fp:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request.", details={"run_id": str(existing.id)}
        )
    return StartedRun(existing, created=False)


async def _claim_parent(session: AsyncSession, parent: Run, run_id: uuid.UUID) -> None:
    claimed = await session.scalar(
        update(Run).where(Run.id == parent.id, Run.resumed_by.is_(None)).values(resumed_by=run_id).returning(Run.id)
    )
    if claimed is None:
        raise RunNotResumable("This run was already resumed.", details={"resumed_by": str(parent.resumed_by)})
    if parent.session_id is not None:
        await sessions.hand_over(session, parent.session_id, parent.id, run_id)
