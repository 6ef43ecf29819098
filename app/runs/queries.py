"""Reading stored runs: one run as a caller may see it, lists, replay checks, the stored answer.

Visibility (API.md §1): a user reads its own runs; an admin reads (and cancels, resumes) every
owner's. Lists show the caller's own runs, for admins too. Another owner's run is a 404.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.service import Principal
from app.errors import AppError, Cancelled
from app.pagination import PageParams, page_of, paginate
from app.runs.errors import EventsPruned, RunNotFound, error_from_envelope
from app.runs.events import RunEventOut
from app.runs.models import ENDED_STATUSES, Run, RunEvent, RunStatus
from app.runs.schemas import RunOut, RunResult


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    run = await session.get(Run, run_id)
    if run is None or (run.owner_id != principal.user_id and not principal.is_admin):
        raise RunNotFound("Run not found.", details={"run_id": str(run_id)})
    return run


async def owner_principal(session: AsyncSession, caller: Principal, run: Run) -> Principal:
    """Who a run acts as: its owner (an admin acting on another owner's run acts for that owner)."""
    if run.owner_id == caller.user_id:
        return caller
    owner = await session.get(User, run.owner_id)
    if owner is None:
        raise RunNotFound("The run's owner was deleted.", details={"run_id": str(run.id)})
    return principal_of_user(owner)


def principal_of_user(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, role="admin" if user.role == "admin" else "user")


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    agent: str | None,
    status: RunStatus | None,
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
    return [RunOut.model_validate(r) for r in page], cursor


def answer_of(run: Run) -> RunResult:
    """A finished run as the sync endpoint answers it: the result, or its error raised."""
    if run.status == "failed" and run.error:
        raise error_from_envelope(run.error)
    if run.status == "cancelled":
        raise Cancelled("The run was cancelled.", details={"usage": run.usage}, run_id=str(run.id))
    return RunResult.model_validate(run)


def error_of_terminal(event: RunEventOut) -> AppError:
    """The `AppError` a sync caller gets for a failed or cancelled run's terminal event."""
    if event.event == "run.failed":
        return error_from_envelope(event.data)
    return Cancelled("The run was cancelled.", details={"usage": event.data.get("usage")}, run_id=event.data["run_id"])


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
    ended = select(Run.id).where(Run.status.in_(ENDED_STATUSES), Run.finished_at < finished_before)
    result = await session.execute(
        delete(RunEvent).where(RunEvent.run_id.in_(ended)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
