"""Sessions: create, read, fork, delete, and the lock a run holds while it extends one.

A run with ``session_id`` claims the session (``active_run_id``) in the transaction that stores
the run, starts from the stored history, and on completion replaces the history with the run's
full history (the stored one plus its new messages) in the transaction that finishes the run:
atomic, and never interleaved with another run because the claim excludes one. A run that ends
``requires_action`` keeps the claim for its continuation (``POST /runs/{id}/resume`` hands it
over); a failed or cancelled run releases it and leaves the history unchanged. A claim held by a
run that has already ended (its process died before releasing it) is taken over by the next run.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.service import get_version, get_visible_agent
from app.auth.service import Principal
from app.db import utcnow
from app.errors import InvalidRequest, NotFound, SessionBusy
from app.pagination import PageParams, page_of, paginate
from app.runs.models import Run
from app.sessions.models import ChatSession
from app.sessions.schemas import ForkRequest, SessionAgent, SessionCreate, SessionMessages, SessionOut

ENDED_RUN_STATUSES = ("completed", "failed", "cancelled")


class SessionNotFound(NotFound):
    pass


class SessionIsBusy(SessionBusy):
    pass


class InvalidSessionRequest(InvalidRequest):
    pass


def to_out(row: ChatSession) -> SessionOut:
    return SessionOut(
        id=row.id,
        agent=SessionAgent(id=row.agent_id, name=row.agent_name),
        tools=row.tools,
        metadata=row.session_metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
        active_run_id=row.active_run_id,
    )


def _tool_names(definition: dict[str, Any]) -> list[str]:
    tools: list[dict[str, Any]] = definition.get("tools") or []
    return [str(tool.get("name")) for tool in tools]


async def create_session(session: AsyncSession, principal: Principal, body: SessionCreate) -> SessionOut:
    agent = await get_visible_agent(session, principal, body.agent)
    version = await get_version(session, agent, None)
    tools = None
    if body.tools is not None:
        known = _tool_names(version.definition)
        unknown = [name for name in body.tools if name not in known]
        if unknown:
            raise InvalidSessionRequest(
                f"The agent has no tool named {', '.join(map(repr, unknown))}.",
                errors=[{"loc": ["body", "tools"], "msg": f"unknown tool {n!r}"} for n in unknown],
            )
        tools = list(dict.fromkeys(body.tools))
    row = ChatSession(
        owner_id=principal.user_id,
        agent_id=agent.id,
        agent_name=agent.name,
        tools=tools,
        session_metadata=body.metadata,
        messages=[],
        message_count=0,
    )
    session.add(row)
    await session.flush()
    return to_out(row)


async def get_visible_session(session: AsyncSession, principal: Principal, session_id: uuid.UUID) -> ChatSession:
    """The session if it is the caller's (any session for an admin), else `SessionNotFound` (404, never 403)."""
    row = await session.get(ChatSession, session_id)
    if row is None or not (principal.is_admin or row.owner_id == principal.user_id):
        raise SessionNotFound("Session not found.", details={"session_id": str(session_id)})
    return row


async def list_sessions(
    session: AsyncSession, principal: Principal, params: PageParams, agent: str | None
) -> tuple[list[SessionOut], str | None]:
    """The caller's sessions, newest first; an admin's list holds every owner's."""
    query: Select[Any] = select(ChatSession)
    if not principal.is_admin:
        query = query.where(ChatSession.owner_id == principal.user_id)
    if agent:
        try:
            query = query.where(ChatSession.agent_id == uuid.UUID(agent))
        except ValueError:
            query = query.where(ChatSession.agent_name == agent)
    rows = list((await session.scalars(paginate(query, params, ChatSession.created_at, ChatSession.id))).all())
    page, cursor = page_of(rows, params)
    return [to_out(row) for row in page], cursor


async def _active_run(session: AsyncSession, row: ChatSession) -> Run | None:
    if row.active_run_id is None:
        return None
    run = await session.get(Run, row.active_run_id)
    return run if run is not None and run.status not in ENDED_RUN_STATUSES else None


async def delete_session(session: AsyncSession, row: ChatSession) -> None:
    """Delete the session; its runs stay readable. Refused while a run holds it."""
    if (active := await _active_run(session, row)) is not None:
        raise SessionIsBusy(
            "A run is using this session; cancel it or wait for it to end.",
            details={"active_run_id": str(active.id)},
            retry_after=1.0,
        )
    await session.delete(row)
    await session.flush()


def _history(row: ChatSession) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = row.messages or []
    return list(messages)


def messages_of(row: ChatSession) -> SessionMessages:
    return SessionMessages(session_id=row.id, message_count=row.message_count, messages=_history(row))


async def fork_session(session: AsyncSession, principal: Principal, row: ChatSession, body: ForkRequest) -> SessionOut:
    """A new session of the caller's (an admin forking another owner's session owns the fork)."""
    at = row.message_count if body.at is None else body.at
    if at > row.message_count:
        raise InvalidSessionRequest(
            f"`at` is {at} but the session has {row.message_count} messages.",
            errors=[{"loc": ["body", "at"], "msg": f"at most {row.message_count}"}],
        )
    fork = ChatSession(
        owner_id=principal.user_id,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        tools=row.tools,
        session_metadata=body.metadata if body.metadata is not None else row.session_metadata,
        messages=_history(row)[:at],
        message_count=at,
    )
    session.add(fork)
    await session.flush()
    return to_out(fork)


# -- runs on a session ---------------------------------------------------------------------


@dataclass(frozen=True)
class SessionClaim:
    """What a run on a session starts from."""

    session_id: uuid.UUID
    history: list[dict[str, Any]]
    tools: list[str] | None


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise SessionNotFound("Session not found.", details={"session_id": raw}) from None


async def claim_for_run(
    session: AsyncSession, principal: Principal, raw_session_id: str, agent_id: uuid.UUID, run_id: uuid.UUID
) -> SessionClaim:
    """Take the session for ``run_id`` (in the caller's transaction) and return its history.

    Raises `SessionNotFound` (404, also for another owner's session unless the caller is an admin),
    `InvalidSessionRequest` (422, the session belongs to another agent) or `SessionIsBusy` (409, retryable).
    """
    session_id = _parse_id(raw_session_id)
    row = await get_visible_session(session, principal, session_id)
    if row.agent_id != agent_id:
        raise InvalidSessionRequest(
            f"Session {session_id} belongs to agent {row.agent_name!r}; run that agent.",
            errors=[{"loc": ["body", "session_id"], "msg": f"belongs to agent {row.agent_name!r}"}],
            details={"session_id": str(session_id), "agent": row.agent_name},
        )
    ended = select(Run.id).where(Run.id == ChatSession.active_run_id, Run.status.in_(ENDED_RUN_STATUSES))
    claimed = await session.execute(
        update(ChatSession)
        .where(ChatSession.id == session_id, or_(ChatSession.active_run_id.is_(None), ended.exists()))
        .values(active_run_id=run_id)
        .returning(ChatSession.messages, ChatSession.tools)
        .execution_options(synchronize_session=False)
    )
    found = claimed.first()
    if found is None:
        await session.refresh(row)
        raise SessionIsBusy(
            "The session already has an active run; retry when it has finished.",
            details={"session_id": str(session_id), "active_run_id": str(row.active_run_id)},
            retry_after=1.0,
        )
    return SessionClaim(session_id=session_id, history=list(found[0] or []), tools=found[1])


async def hand_over(session: AsyncSession, session_id: uuid.UUID, from_run: uuid.UUID, to_run: uuid.UUID) -> None:
    """A `requires_action` run's claim passes to its continuation."""
    handed = await session.scalar(
        update(ChatSession)
        .where(ChatSession.id == session_id, ChatSession.active_run_id == from_run)
        .values(active_run_id=to_run)
        .returning(ChatSession.id)
        .execution_options(synchronize_session=False)
    )
    if handed is None:
        raise SessionIsBusy(
            "The session is no longer held by the run being resumed.",
            details={"session_id": str(session_id)},
            retry_after=1.0,
        )


async def finish_run(
    session: AsyncSession,
    session_id: uuid.UUID,
    run_id: uuid.UUID,
    status: str,
    full_history: list[dict[str, Any]] | None = None,
) -> None:
    """Release (and on completion extend) the session the run held; a no-op if it no longer holds it."""
    if status == "requires_action":
        return
    values: dict[str, Any] = {"active_run_id": None}
    if status == "completed" and full_history is not None:
        values |= {"messages": full_history, "message_count": len(full_history), "updated_at": utcnow()}
    await session.execute(
        update(ChatSession)
        .where(ChatSession.id == session_id, ChatSession.active_run_id == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
