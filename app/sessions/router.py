"""Session endpoints (API.md §3.6)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.auth.deps import CurrentPrincipal
from app.db import SessionDep
from app.errors import error_responses
from app.pagination import Page, PageDep
from app.sessions import service
from app.sessions.models import ChatSession
from app.sessions.schemas import ForkRequest, SessionCreate, SessionMessages, SessionOut

router = APIRouter(prefix="/sessions", tags=["sessions"])


async def _visible_session(session_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> ChatSession:
    return await service.get_visible_session(session, principal, session_id)


VisibleSession = Annotated[ChatSession, Depends(_visible_session)]
"""The ``{session_id}`` of the path if it is the caller's (any session for an admin), else 404 ``NotFound``."""


@router.post(
    "",
    status_code=201,
    summary="Create a session (server-owned history)",
    responses=error_responses(401, 404),
    description="Runs with `session_id` start from the stored history and append their new messages when they "
    "complete. `tools` restricts which of the agent's tools the session's runs may use.",
)
async def create_session(body: SessionCreate, session: SessionDep, principal: CurrentPrincipal) -> SessionOut:
    return await service.create_session(session, principal, body)


@router.get(
    "",
    summary="List your sessions, newest first",
    description="An admin's list holds every owner's sessions.",
    responses=error_responses(401),
)
async def list_sessions(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    agent: Annotated[str | None, Query(description="Agent id or name.")] = None,
) -> Page[SessionOut]:
    items, cursor = await service.list_sessions(session, principal, page, agent)
    return Page[SessionOut](items=items, next_cursor=cursor)


@router.get("/{session_id}", summary="Get a session", responses=error_responses(401, 404))  # noqa: FAST003
async def get_session(row: VisibleSession) -> SessionOut:
    return service.to_out(row)


@router.delete(
    "/{session_id}",  # noqa: FAST003 (resolved by a dependency)
    status_code=204,
    summary="Delete a session",
    responses=error_responses(401, 404, 409),
    description="Its runs stay readable. While a run holds the session the answer is `409 SessionBusy`.",
)
async def delete_session(row: VisibleSession, session: SessionDep) -> Response:
    await service.delete_session(session, row)
    return Response(status_code=204)


@router.get(
    "/{session_id}/messages",  # noqa: FAST003 (resolved by a dependency)
    summary="The session's stored history",
    responses=error_responses(401, 404),
)
async def get_messages(row: VisibleSession) -> SessionMessages:
    return service.messages_of(row)


@router.post(
    "/{session_id}/fork",  # noqa: FAST003 (resolved by a dependency)
    status_code=201,
    summary="Fork a session at message N",
    responses=error_responses(401, 404),
    description='`{"at": N}` → a new session with the first N messages (default: all) of this one.',
)
async def fork_session(
    row: VisibleSession, body: ForkRequest, session: SessionDep, principal: CurrentPrincipal
) -> SessionOut:
    return await service.fork_session(session, principal, row, body)
