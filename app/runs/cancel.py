"""``POST /runs/{run_id}/cancel`` for every kind of run, on any process.

- ``queued`` (background): the workflow is cancelled in DBOS (it never starts) and the run ends
  ``cancelled`` at once.
- ``requires_action``: ends ``cancelled``; its pending calls and approvals are cleared.
- ``running``: the workflow is cancelled in DBOS (a backstop: its model step aborts within a
  second) and every process is told (NOTIFY); the one executing the run cancels its task, which
  stops the model request and tools and stores the usage so far. The answer waits up to
  ``cancel_wait_seconds`` for the run to stop, else it is ``202 cancel_pending``.
- Already ``cancelled``: the run again (idempotent). ``completed`` / ``failed``: ``409 Conflict``.
"""

import asyncio
import time
import uuid
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.runs import durable
from app.runs.background import Background, end_run, is_background
from app.runs.models import Run
from app.runs.schemas import RunOut

CANCEL_POLL_SECONDS = 0.5


class RunNotCancellable(Conflict):
    pass


class CancelPending(BaseModel):
    """The run did not stop within the server's wait; it will end ``cancelled`` (follow `events_url`)."""

    run_id: str
    status: Literal["cancel_pending"] = "cancel_pending"
    events_url: str


def _not_cancellable(run: Run) -> RunNotCancellable:
    return RunNotCancellable(
        f"The run already ended {run.status}; only queued, running or requires_action runs can be cancelled.",
        details={"status": run.status},
        run_id=str(run.id),
    )


async def _reload(background: Background, run_id: uuid.UUID) -> Run:
    async with background.database.sessionmaker() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        return run


async def cancel_run(session: AsyncSession, background: Background, run: Run) -> RunOut | CancelPending:
    from app.runs.service import to_out

    if run.status == "cancelled":
        return to_out(run)
    if run.status in ("completed", "failed"):
        raise _not_cancellable(run)
    if run.status == "requires_action" and run.resumed_by is not None:
        raise RunNotCancellable(
            "This run was already resumed; cancel its continuation instead.",
            details={"status": run.status, "resumed_by": str(run.resumed_by)},
            run_id=str(run.id),
        )
    run_id = run.id
    await session.commit()  # no transaction stays open while we wait for the run to stop
    if is_background(run):
        await durable.cancel(run_id)
    if run.status in ("queued", "requires_action"):
        await end_run(background.database, background.notifier, run_id, "cancelled", only_if=(run.status,))
    key = str(run_id)
    deadline = time.monotonic() + background.settings.cancel_wait_seconds
    with background.notifier.subscribe(key) as wake:
        current = await _reload(background, run_id)
        if current.status in ("queued", "running"):
            await background.notifier.request_cancel(key)
        while True:
            if current.status == "cancelled":
                return to_out(current)
            if current.status in ("completed", "failed"):
                raise _not_cancellable(current)
            if current.status == "requires_action":  # it paused before the cancel landed
                await end_run(
                    background.database, background.notifier, run_id, "cancelled", only_if=("requires_action",)
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return CancelPending(run_id=key, events_url=f"/runs/{key}/events")
            await wake.wait(min(remaining, CANCEL_POLL_SECONDS))
            current = await _reload(background, run_id)
            await asyncio.sleep(0)
