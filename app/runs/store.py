"""Writing runs: events in bulk, and the one terminal write.

A run's end — its row's final state, its last events with the terminal one, and the release of
its session — is stored by `_write_end` in one transaction, and only a run still live (or still
in the state the caller saw) is ended: the first writer wins. Callers publish the terminal event
only after this returned it stored (store first, publish after). A write that fails because the
database is unreachable is retried with backoff; one that still fails leaves the run live in the
database, where reconcile (`app.runs.background`) ends it once the database is back.
"""

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.errors import AppError
from app.observability import metrics
from app.runs.events import RunEventOut
from app.runs.models import LIVE_STATUSES, Run, RunEvent, RunStatus
from app.runs.schemas import Usage
from app.sessions import service as sessions

logger = logging.getLogger("axon.runs")

T = TypeVar("T")
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0


@dataclass
class RunEnd:
    """The final state of a run, as its row stores it."""

    status: RunStatus
    usage: dict[str, Any]
    finished_at: dt.datetime
    output: Any = None
    messages: list[dict[str, Any]] | None = None
    deferred: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    first_token_at: dt.datetime | None = None
    session_history: list[dict[str, Any]] | None = None
    """The session's whole history after a completed run (the stored one plus the run's messages)."""


def _rows(run_id: uuid.UUID, batch: Sequence[RunEventOut]) -> list[dict[str, Any]]:
    now = utcnow()
    return [{"run_id": run_id, "seq": e.seq, "event": e.event, "data": e.data, "created_at": now} for e in batch]


async def insert_events(session: AsyncSession, run_id: uuid.UUID, batch: Sequence[RunEventOut]) -> None:
    """One multi-row INSERT for a batch of events."""
    if batch:
        await session.execute(insert(RunEvent), _rows(run_id, batch))


async def store_events(database: Database, run_id: uuid.UUID, batch: Sequence[RunEventOut]) -> None:
    """A batch of a live run's events, in its own short transaction."""
    async with database.sessionmaker() as session, session.begin():
        await insert_events(session, run_id, batch)


async def _write_end(
    session: AsyncSession,
    run_id: uuid.UUID,
    end: RunEnd,
    events: Sequence[RunEventOut],
    session_id: uuid.UUID | None,
    from_statuses: Sequence[RunStatus],
) -> bool:
    """THE terminal write: the row (only from ``from_statuses``), the last events, the session release."""
    ended = await session.scalar(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(from_statuses))
        .values(
            status=end.status,
            output=end.output,
            usage=end.usage,
            messages=end.messages,
            deferred=end.deferred,
            error=end.error,
            finished_at=end.finished_at,
            first_token_at=end.first_token_at,
            last_seq=events[-1].seq,
        )
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    if ended is None:
        return False
    await insert_events(session, run_id, events)
    if session_id is not None:
        await sessions.finish_run(session, session_id, run_id, end.status, end.session_history)
    return True


async def retrying(what: str, run_id: uuid.UUID, write: Callable[[], Awaitable[T]], patience_s: float) -> T | None:
    """``write()`` again after database failures, with backoff, for up to ``patience_s``; None if it never
    succeeded (logged; the run is left to reconcile)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience_s
    pause = RETRY_FIRST_SECONDS
    while True:
        try:
            return await write()
        except (SQLAlchemyError, OSError) as exc:
            if loop.time() + pause > give_up:
                logger.error("could not store %s of run %s: %s; left to reconcile", what, run_id, type(exc).__name__)
                return None
            logger.warning("could not store %s of run %s (%s); retrying", what, run_id, type(exc).__name__)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RETRY_MAX_SECONDS)


async def end_executed(
    database: Database,
    run_id: uuid.UUID,
    end: RunEnd,
    events: Sequence[RunEventOut],
    session_id: uuid.UUID | None,
    patience_s: float,
) -> bool | None:
    """End a run this process executed (``events`` ends with its terminal event).

    True: stored. False: the run had already been ended by someone else (reconcile, a takeover);
    the caller reads that stored end. None: the database stayed unreachable.
    """

    async def write() -> bool:
        async with database.sessionmaker() as session, session.begin():
            return await _write_end(session, run_id, end, events, session_id, LIVE_STATUSES)

    return await retrying("the end", run_id, write, patience_s)


async def end_unexecuted(
    database: Database,
    run_id: uuid.UUID,
    status: RunStatus,
    error: AppError | None = None,
    only_if: Sequence[RunStatus] = LIVE_STATUSES,
) -> RunEventOut | None:
    """End a run no process is executing (``failed`` with ``error``, or ``cancelled``): its terminal
    event numbers on from the stored ones. None (nothing written) unless its status is in ``only_if``."""
    async with database.sessionmaker() as session, session.begin():
        run = await session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in only_if:
            return None
        stored_seq = await session.scalar(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id))
        seq = max(int(stored_seq or 0), run.last_seq) + 1
        usage: dict[str, Any] = run.usage or Usage().model_dump()
        envelope: dict[str, Any] | None = None
        if error is not None:
            error.run_id = str(run_id)
            envelope = error.envelope(run.run_options.request_id).model_dump(mode="json")
            terminal = RunEventOut(seq, "run.failed", {**envelope, "run_id": str(run_id), "seq": seq})
        else:
            terminal = RunEventOut(seq, "run.cancelled", {"usage": usage, "run_id": str(run_id), "seq": seq})
        end = RunEnd(status=status, usage=usage, finished_at=utcnow(), error=envelope, messages=run.messages)
        await _write_end(session, run_id, end, [terminal], run.session_id, only_if)
    error_type = error.error_type if error is not None else "Cancelled" if status == "cancelled" else ""
    metrics.RUNS.labels(run.agent_name, status, error_type).inc()
    return terminal


async def stored_events(session: AsyncSession, run_id: uuid.UUID, after: int) -> list[RunEventOut]:
    rows = await session.execute(
        select(RunEvent.seq, RunEvent.event, RunEvent.data)
        .where(RunEvent.run_id == run_id, RunEvent.seq > after)
        .order_by(RunEvent.seq)
    )
    return [RunEventOut(seq, event, data) for seq, event, data in rows]
