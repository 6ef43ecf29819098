"""Run logic behind the endpoints: validate a request, store the run, hand it to the `RunManager`.

A run endpoint commits the request's transaction right after storing the run row, before
the model is called: no transaction spans model latency, and a SQLite writer lock held by
the request (e.g. an API key's ``last_used_at``) never blocks the run's own writes.
"""

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_ai import DeferredToolResults, ModelRetry, ToolApproved, ToolDenied
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, UserContent
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent, AgentVersion
from app.agents.service import get_version, get_visible_agent
from app.auth.service import Principal
from app.config import Settings
from app.db import utcnow
from app.errors import AppError, Cancelled
from app.pagination import PageParams, page_of, paginate
from app.runs.errors import (
    EventsPruned,
    IdempotencyConflict,
    InvalidRunRequest,
    QueueFull,
    RunNotFound,
    RunNotResumable,
    error_from_envelope,
)
from app.runs.events import TERMINAL_EVENTS, RunChannel, RunEventOut
from app.runs.manager import RunManager, RunSpec
from app.runs.models import Run, RunEvent
from app.runs.schemas import (
    TERMINAL_STATUSES,
    AgentRef,
    Deferred,
    ResumeRequest,
    RunOut,
    RunRequest,
    RunResult,
    Usage,
    UsageLimitsIn,
)
from app.runtime import RunDeps
from app.sessions import service as sessions
from app.sessions.capability import SessionTools
from app.sessions.models import ChatSession
from app.tools.toolset import check_delegation

if TYPE_CHECKING:
    from app.runs.background import Background

DEFAULT_REQUEST_LIMIT = 50
REFUSED_MODEL_SETTINGS = frozenset({"extra_headers", "extra_body"})
ALLOWED_MODEL_SETTINGS = frozenset(ModelSettings.__annotations__) - REFUSED_MODEL_SETTINGS
_USER_CONTENT = TypeAdapter(UserContent)
_ACCEPTED_PART_KINDS = frozenset({"binary"})


@dataclass
class StartedRun:
    """A run this request created or (same ``Idempotency-Key``) found."""

    run: Run
    channel: RunChannel | None
    """Its live events when it runs in this process."""
    created: bool


# -- validation --------------------------------------------------------------------------


def _size_check(name: str, value: Any, limit: int) -> None:
    if value is not None and len(json.dumps(value)) > limit:
        raise InvalidRunRequest(f"`{name}` is larger than {limit} bytes.", details={"field": name, "limit": limit})


def _field_errors(exc: ValidationError, *loc: str | int) -> list[dict[str, Any]]:
    return [{"loc": [*loc, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def parse_history(raw: list[dict[str, Any]] | None, *, field: str = "message_history") -> list[ModelMessage]:
    if not raw:
        return []
    try:
        return ModelMessagesTypeAdapter.validate_python(raw)
    except ValidationError as exc:
        raise InvalidRunRequest(
            f"`{field}` is not valid pydantic-ai message JSON.", details={"errors": _field_errors(exc, "body", field)}
        ) from exc


def parse_input(raw: str | list[str | dict[str, Any]] | None) -> str | list[UserContent] | None:
    if raw is None or isinstance(raw, str):
        return raw
    parts: list[UserContent] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            parts.append(item)
            continue
        if item.get("kind") not in _ACCEPTED_PART_KINDS:
            raise InvalidRunRequest(
                f"input[{index}]: only text and binary parts are accepted (the server fetches no URLs).",
                details={"errors": [{"loc": ["body", "input", index, "kind"], "msg": "unsupported part kind"}]},
            )
        try:
            parts.append(_USER_CONTENT.validate_python(item))
        except ValidationError as exc:
            raise InvalidRunRequest(
                f"input[{index}] is not a valid content part.", details={"errors": _field_errors(exc, "body", "input")}
            ) from exc
    return parts


def _check_model_settings(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    unknown = sorted(set(raw) - ALLOWED_MODEL_SETTINGS)
    if unknown:
        raise InvalidRunRequest(
            f"model_settings: {', '.join(unknown)} not allowed.",
            details={"errors": [{"loc": ["body", "model_settings", k], "msg": "not allowed"} for k in unknown]},
        )
    return raw


def effective_limits(definition: dict[str, Any], requested: UsageLimitsIn | None) -> UsageLimits:
    """Per field the smaller of the definition's and the request's limit (a looser request is clamped)."""
    configured: dict[str, Any] = definition.get("usage_limits") or {}
    asked = requested.model_dump(exclude_none=True) if requested else {}
    limits: dict[str, int] = {}
    for name in UsageLimitsIn.model_fields:
        values = [v for v in (configured.get(name), asked.get(name)) if v is not None]
        if values:
            limits[name] = min(values)
    return UsageLimits(
        request_limit=limits.get("request_limit", DEFAULT_REQUEST_LIMIT),
        tool_calls_limit=limits.get("tool_calls_limit"),
        input_tokens_limit=limits.get("input_tokens_limit"),
        output_tokens_limit=limits.get("output_tokens_limit"),
        total_tokens_limit=limits.get("total_tokens_limit"),
    )


def _deadline_seconds(settings: Settings, deadline_ms: int | None) -> float:
    value = deadline_ms or settings.default_deadline_ms
    if value > settings.max_deadline_ms:
        raise InvalidRunRequest(
            f"deadline_ms is above the server maximum of {settings.max_deadline_ms}.",
            details={"errors": [{"loc": ["body", "deadline_ms"], "msg": f"at most {settings.max_deadline_ms}"}]},
        )
    return value / 1000


def fingerprint(op: str, target: str, body: BaseModel) -> str:
    canonical = json.dumps(
        {"op": op, "target": target, "body": body.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _agent_ref(agent: Agent, version: AgentVersion) -> AgentRef:
    return AgentRef(id=str(agent.id), name=agent.name, version=version.version, spec_hash=version.spec_hash)


# -- starting runs -----------------------------------------------------------------------


async def _by_key(session: AsyncSession, owner_id: uuid.UUID, key: str) -> Run | None:
    return await session.scalar(select(Run).where(Run.owner_id == owner_id, Run.idempotency_key == key))


def _replay(existing: Run, fp: str, manager: RunManager) -> StartedRun:
    if existing.request_fingerprint != fp:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request.", details={"run_id": str(existing.id)}
        )
    return StartedRun(existing, manager.channel(str(existing.id)), created=False)


async def _store_and_start(
    session: AsyncSession, manager: RunManager, run: Run, spec: RunSpec, fp: str, *, parent: Run | None = None
) -> StartedRun:
    session.add(run)
    try:
        await session.flush()
        if parent is not None:
            claimed = await session.scalar(
                update(Run)
                .where(Run.id == parent.id, Run.resumed_by.is_(None))
                .values(resumed_by=run.id)
                .returning(Run.id)
            )
            if claimed is None:
                raise RunNotResumable("This run was already resumed.", details={"resumed_by": str(parent.resumed_by)})
            if parent.session_id is not None:
                await sessions.hand_over(session, parent.session_id, parent.id, run.id)
    except IntegrityError:
        await session.rollback()
        existing = await _by_key(session, run.owner_id, run.idempotency_key or "")
        if existing is None:
            raise
        return _replay(existing, fp, manager)
    except AppError:
        await session.rollback()
        raise
    await session.commit()
    return StartedRun(run, manager.start(spec), created=True)


async def start_run(
    session: AsyncSession,
    manager: RunManager,
    settings: Settings,
    principal: Principal,
    agent: Agent,
    body: RunRequest,
    idempotency_key: str | None,
    background: "Background | None" = None,
    *,
    streamed: bool = True,
) -> StartedRun:
    """Validate the request, store the run and start it (or find the run this key already started).

    With ``background`` the run is stored ``queued`` and handed to the durable queue instead.
    ``streamed=False`` (the sync endpoint without ``wait_ms``): see `RunSpec.streamed`.
    """
    manager.check_accepting()
    fp = fingerprint("run" if background is None else "background", str(agent.id), body)
    if idempotency_key and (existing := await _by_key(session, principal.user_id, idempotency_key)):
        return _replay(existing, fp, manager)
    if body.session_id is not None and body.message_history is not None:
        raise InvalidRunRequest("Send either `message_history` or `session_id`, not both.")
    if background is not None:
        background.check_enabled()
        await _check_backlog(session, settings)
    _size_check("deps", body.deps, settings.max_deps_bytes)
    _size_check("metadata", body.metadata, settings.max_metadata_bytes)
    user_prompt = parse_input(body.input)
    model_settings = _check_model_settings(body.model_settings)
    deadline_s = _deadline_seconds(settings, body.deadline_ms)
    version = await _version(session, manager, agent, body.version)
    definition: dict[str, Any] = version.definition
    run_id = uuid.uuid4()
    claim = None
    if body.session_id is not None:
        claim = await sessions.claim_for_run(session, principal, body.session_id, agent.id, run_id)
        history = parse_history(claim.history, field="session history")
    else:
        history = parse_history(body.message_history)
    ref = _agent_ref(agent, version)
    run = Run(
        id=run_id,
        owner_id=principal.user_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=version.version,
        spec_hash=version.spec_hash,
        status="running" if background is None else "queued",
        input=body.input,
        deps=body.deps,
        message_history=ModelMessagesTypeAdapter.dump_python(history, mode="json") if history else None,
        options={
            "model_settings": model_settings,
            "usage_limits": body.usage_limits.model_dump(exclude_none=True) if body.usage_limits else None,
            "deadline_ms": round(deadline_s * 1000),
            **({"background": True} if background is not None else {}),
        },
        run_metadata=body.metadata,
        idempotency_key=idempotency_key,
        request_fingerprint=fp,
        session_id=claim.session_id if claim else None,
        worker=manager.worker if background is None else None,
        started_at=utcnow() if background is None else None,
    )
    if background is not None:
        return await _store_and_enqueue(session, manager, background, run, fp)
    spec = RunSpec(
        run_id=run_id,
        principal=principal,
        agent=ref,
        version_row=version,
        structured=definition.get("output_schema") is not None,
        user_prompt=user_prompt,
        message_history=history,
        deferred_tool_results=None,
        deps_vars=body.deps or {},
        model_settings=model_settings,
        usage_limits=effective_limits(definition, body.usage_limits),
        deadline_s=deadline_s,
        started_at=run.started_at,
        session_id=run.session_id,
        capabilities=session_capabilities(claim.tools if claim else None),
        streamed=streamed,
    )
    return await _store_and_start(session, manager, run, spec, fp)


async def _version(session: AsyncSession, manager: RunManager, agent: Agent, number: int | None) -> AgentVersion:
    """`get_version`, remembered per process (a stored version never changes; a deleted agent is a 404 first)."""
    key = (agent.id, agent.current_version if number is None else number)
    version: AgentVersion | None = manager.versions.get(key)
    if version is None:
        version = await get_version(session, agent, number)
        session.expunge(version)  # a rollback of this request must not expire the shared copy
        manager.remember_version(key, version)
    return version


def session_capabilities(tools: list[str] | None) -> list[Any]:
    return [SessionTools(allowed=frozenset(tools))] if tools is not None else []


async def _check_backlog(session: AsyncSession, settings: Settings) -> None:
    """Admission control: refuse a background run while the queue holds ``max_queued_runs``.

    ``Retry-After`` is the time the backlog needs to drain at full concurrency, assuming a
    couple of seconds per run, clamped to 1-60 s.
    """
    queued = int(await session.scalar(select(func.count()).select_from(Run).where(Run.status == "queued")) or 0)
    if queued >= settings.max_queued_runs:
        wait = min(60.0, max(1.0, 2.0 * queued / settings.max_concurrent_runs))
        raise QueueFull(
            f"{queued} background runs are waiting; retry later.", details={"queued": queued}, retry_after=wait
        )


async def _store_and_enqueue(
    session: AsyncSession, manager: RunManager, background: "Background", run: Run, fp: str
) -> StartedRun:
    """Store the queued run (committed first, so the workflow finds it), then hand it to the queue."""
    session.add(run)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        existing = await _by_key(session, run.owner_id, run.idempotency_key or "")
        if existing is None:
            raise
        return _replay(existing, fp, manager)
    await session.commit()
    try:
        await background.submit(run)
    except Exception as exc:
        from app.runs.background import end_run

        error = QueueFull("The run could not be queued; retry.", retry_after=1.0)
        await end_run(background.database, background.notifier, run.id, "failed", error)
        raise error from exc
    return StartedRun(run, None, created=True)


def _deferred_results(deferred: Deferred, body: ResumeRequest) -> DeferredToolResults:
    call_ids = {c.tool_call_id for c in deferred.calls}
    approval_ids = {c.tool_call_id for c in deferred.approvals}
    answered = set(body.tool_results) | set(body.tool_errors)
    problems: list[dict[str, Any]] = []
    for key in sorted(set(body.tool_results) & set(body.tool_errors)):
        problems.append({"loc": ["body", "tool_errors", key], "msg": "answered both as a result and as an error"})
    for key in sorted(answered - call_ids):
        problems.append({"loc": ["body", "tool_results", key], "msg": "no pending external call has this id"})
    for key in sorted(set(body.approvals) - approval_ids):
        problems.append({"loc": ["body", "approvals", key], "msg": "no pending approval has this id"})
    for key in sorted(call_ids - answered):
        problems.append({"loc": ["body", "tool_results", key], "msg": "pending call not answered"})
    for key in sorted(approval_ids - set(body.approvals)):
        problems.append({"loc": ["body", "approvals", key], "msg": "pending approval not answered"})
    if problems:
        raise InvalidRunRequest("The answers do not match the pending calls.", details={"errors": problems})
    calls: dict[str, Any] = dict(body.tool_results)
    calls.update({key: ModelRetry(message) for key, message in body.tool_errors.items()})
    approvals: dict[str, Any] = {}
    for key, decision in body.approvals.items():
        if isinstance(decision, bool):
            approvals[key] = decision
        elif decision.override_args is not None:
            approvals[key] = ToolApproved(override_args=decision.override_args)
        else:
            approvals[key] = ToolDenied(decision.message or "The tool call was denied.")
    return DeferredToolResults(calls=calls, approvals=approvals)


async def resume_run(
    session: AsyncSession,
    manager: RunManager,
    settings: Settings,
    principal: Principal,
    parent: Run,
    body: ResumeRequest,
    idempotency_key: str | None,
) -> StartedRun:
    """Continue a `requires_action` run as a new run linked by ``parent_run_id``."""
    manager.check_accepting()
    fp = fingerprint("resume", str(parent.id), body)
    if idempotency_key and (existing := await _by_key(session, principal.user_id, idempotency_key)):
        return _replay(existing, fp, manager)
    if parent.status != "requires_action" or parent.resumed_by is not None or parent.deferred is None:
        raise RunNotResumable(
            f"Only a requires_action run that was not resumed yet can be resumed (this one is {parent.status}).",
            details={"status": parent.status, "resumed_by": str(parent.resumed_by) if parent.resumed_by else None},
        )
    results = _deferred_results(Deferred.model_validate(parent.deferred), body)
    _size_check("deps", body.deps, settings.max_deps_bytes)
    _size_check("metadata", body.metadata, settings.max_metadata_bytes)
    model_settings = _check_model_settings(body.model_settings)
    deadline_s = _deadline_seconds(settings, body.deadline_ms)
    agent = await get_visible_agent(session, principal, str(parent.agent_id))
    version = await get_version(session, agent, parent.agent_version)
    history = parse_history(parent.message_history) + parse_history(parent.messages, field="messages")
    deps = body.deps if body.deps is not None else parent.deps
    run_id = uuid.uuid4()
    run = Run(
        id=run_id,
        owner_id=principal.user_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=version.version,
        spec_hash=version.spec_hash,
        status="running",
        input=None,
        deps=deps,
        message_history=ModelMessagesTypeAdapter.dump_python(history, mode="json"),
        options={"model_settings": model_settings, "deadline_ms": round(deadline_s * 1000)},
        run_metadata=body.metadata if body.metadata is not None else parent.run_metadata,
        idempotency_key=idempotency_key,
        request_fingerprint=fp,
        parent_run_id=parent.id,
        session_id=parent.session_id,
        worker=manager.worker,
        started_at=utcnow(),
    )
    tools = None
    if parent.session_id is not None:
        tools = await session.scalar(select(ChatSession.tools).where(ChatSession.id == parent.session_id))
    spec = RunSpec(
        run_id=run_id,
        principal=principal,
        agent=_agent_ref(agent, version),
        version_row=version,
        session_id=parent.session_id,
        capabilities=session_capabilities(tools),
        structured=version.definition.get("output_schema") is not None,
        user_prompt=None,
        message_history=history,
        deferred_tool_results=results,
        deps_vars=deps or {},
        model_settings=model_settings,
        usage_limits=effective_limits(version.definition, body.usage_limits),
        deadline_s=deadline_s,
        started_at=run.started_at,
    )
    return await _store_and_start(session, manager, run, spec, fp, parent=parent)


async def start_child_run(
    session: AsyncSession, manager: RunManager, parent: RunDeps, agent_ref: str, user_input: str
) -> tuple[RunChannel, str]:
    """An `agent` tool's delegated run: visible to the parent's principal, linked by ``parent_run_id``."""
    agent = await get_visible_agent(session, parent.principal, agent_ref)
    settings = manager.settings
    check_delegation(parent, agent.id, settings)
    version = await get_version(session, agent, None)
    run_id = uuid.uuid4()
    run = Run(
        id=run_id,
        owner_id=parent.principal.user_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=version.version,
        spec_hash=version.spec_hash,
        status="running",
        input=user_input,
        parent_run_id=uuid.UUID(parent.run_id),
        worker=manager.worker,
        started_at=utcnow(),
    )
    spec = RunSpec(
        run_id=run_id,
        principal=parent.principal,
        agent=_agent_ref(agent, version),
        version_row=version,
        structured=version.definition.get("output_schema") is not None,
        user_prompt=user_input,
        message_history=None,
        deferred_tool_results=None,
        deps_vars={},
        model_settings=None,
        usage_limits=effective_limits(version.definition, None),
        deadline_s=settings.default_deadline_ms / 1000,
        lineage=(*parent.lineage, parent.agent_id),
        started_at=run.started_at,
    )
    started = await _store_and_start(session, manager, run, spec, "")
    assert started.channel is not None
    return started.channel, str(run_id)


# -- reading runs ------------------------------------------------------------------------


async def get_owned_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    run = await session.get(Run, run_id)
    if run is None or run.owner_id != principal.user_id:
        raise RunNotFound("Run not found.", details={"run_id": str(run_id)})
    return run


def _duration_ms(run: Run) -> int | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return round((run.finished_at - run.started_at).total_seconds() * 1000)


def to_result(run: Run) -> RunResult:
    return RunResult(
        run_id=str(run.id),
        status=run.status,  # pyright: ignore[reportArgumentType]
        agent=AgentRef(id=str(run.agent_id), name=run.agent_name, version=run.agent_version, spec_hash=run.spec_hash),
        output=run.output,
        usage=Usage.model_validate(run.usage or {}),
        messages=run.messages or [],
        deferred=Deferred.model_validate(run.deferred) if run.deferred else None,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=_duration_ms(run),
    )


def to_out(run: Run) -> RunOut:
    return RunOut(
        **to_result(run).model_dump(),
        error=run.error,
        input=run.input,
        parent_run_id=str(run.parent_run_id) if run.parent_run_id else None,
        resumed_by=str(run.resumed_by) if run.resumed_by else None,
        session_id=str(run.session_id) if run.session_id else None,
        metadata=run.run_metadata,
        worker=run.worker,
        created_at=run.created_at,
        first_token_at=run.first_token_at,
    )


def answer_of(run: Run) -> RunResult:
    """A finished run as the sync endpoint answers it: the result, or its error raised."""
    if run.status == "failed" and run.error:
        raise error_from_envelope(run.error)
    if run.status == "cancelled":
        raise Cancelled("The run was cancelled.", details={"usage": run.usage}, run_id=str(run.id))
    return to_result(run)


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    agent: str | None,
    status: str | None,
    session_id: uuid.UUID | None,
) -> tuple[list[RunOut], str | None]:
    query: Select[Any] = select(Run).where(Run.owner_id == principal.user_id)
    if agent:
        try:
            query = query.where(Run.agent_id == uuid.UUID(agent))
        except ValueError:
            query = query.where(Run.agent_name == agent)
    if status:
        query = query.where(Run.status == status)
    if session_id:
        query = query.where(Run.session_id == session_id)
    rows = list((await session.scalars(paginate(query, params, Run.created_at, Run.id))).all())
    page, cursor = page_of(rows, params)
    return [to_out(r) for r in page], cursor


async def stored_events(session: AsyncSession, run_id: uuid.UUID, after: int) -> list[RunEventOut]:
    rows = await session.scalars(
        select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.seq > after).order_by(RunEvent.seq)
    )
    return [RunEventOut(r.seq, r.event, r.data) for r in rows]


async def stored_terminal(session: AsyncSession, run_id: uuid.UUID) -> RunEventOut | None:
    run = await session.get(Run, run_id)
    if run is None or run.status not in TERMINAL_STATUSES:
        return None
    row = await session.scalar(
        select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.event.in_(TERMINAL_EVENTS)).limit(1)
    )
    return RunEventOut(row.seq, row.event, row.data) if row else None


async def follow(manager: RunManager, run_id: uuid.UUID, after: int = 0) -> AsyncIterator[RunEventOut]:
    """A run's events after ``after``: live from this process, else from the database until the terminal
    one, woken by the writer's notification (another process's run) with a poll as the fallback."""
    key = str(run_id)
    channel = manager.channel(key)
    if channel is not None:
        async for event in channel.subscribe(after):
            yield event
        return
    notifier = manager.notifier
    with notifier.subscribe(key) if notifier is not None else contextlib.nullcontext() as wake:
        ended = False
        while True:
            async with manager.database.sessionmaker() as session:
                run = await session.get(Run, run_id)
                ended = run is None or run.status in TERMINAL_STATUSES
                events = await stored_events(session, run_id, after)
            for event in events:
                yield event
                after = event.seq
                if event.terminal:
                    return
            if ended:
                return
            if (channel := manager.channel(key)) is not None:
                async for event in channel.subscribe(after):
                    yield event
                return
            if wake is not None:
                await wake.wait()
            else:
                await asyncio.sleep(0.2)


async def check_replayable(session: AsyncSession, run: Run, after: int) -> None:
    """Refuse a replay that would silently skip pruned events (`EventsPruned`, 409)."""
    first = await session.scalar(select(func.min(RunEvent.seq)).where(RunEvent.run_id == run.id))
    missing = first > after + 1 if first is not None else run.last_seq > after
    if missing:
        raise EventsPruned(
            "The events after this position were pruned; read the run with GET /runs/{run_id} instead.",
            details={"after": after, "first_available_seq": first, "last_seq": run.last_seq},
            run_id=str(run.id),
        )


async def prune_events(session: AsyncSession, finished_before: dt.datetime) -> int:
    """Delete the stored events of runs that ended before ``finished_before``; the runs stay."""
    ended = select(Run.id).where(
        Run.status.in_(("completed", "failed", "cancelled")), Run.finished_at < finished_before
    )
    result = await session.execute(
        delete(RunEvent).where(RunEvent.run_id.in_(ended)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
