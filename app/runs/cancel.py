"""``POST /runs/{run_id}/cancel`` for every kind of run, on any process.

- ``queued`` (background): the workflow is cancelled in DBOS (it never starts) and the run ends
  ``cancelled`` at once.
- ``requires_action``: ends ``cancelled``; its pending calls and approvals are cleared.
- ``running``: the workflow is cancelled in DBOS (a backstop: its model step aborts within a
  second) and every process is told (NOTIFY); the one executing the run cancels its task, which
  stops the model request and tools and stores the usage so far. The answer waits up to
  ``cancel_wait_seconds`` for the run's end (followed like any run's), else it is ``202 cancel_pending``.
- Already ``cancelled``: the run again (idempotent). ``completed`` / ``failed``: ``409 Conflict``.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.runs import durable
from app.runs.background import Background, end_run
from app.runs.follow import Follower
from app.runs.models import Run
from app.runs.schemas import CancelPending, RunOut


class RunNotCancellable(Conflict):
    pass


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


async def cancel_run(
    session: AsyncSession, background: Background, follower: Follower, run: Run
) -> RunOut | CancelPending:
    if run.status == "cancelled":
        return RunOut.model_validate(run)
    if run.status in ("completed", "failed"):
        raise _not_cancellable(run)
    if run.status == "requires_action" and run.resumed_by is not None:
        raise RunNotCancellable(
            "This run was already resumed; cancel its continuation instead.",
            details={"status": run.status, "resumed_by": str(run.resumed_by)},
            run_id=str(run.id),
        )
    run_id, status = run.id, run.status
    await session.commit()  # no transaction stays open while we wait for the run to stop
    if run.run_options.background:
        await durable.cancel(run_id)
    if status == "running" or (status == "queued" and not await _ended_queued(background, run_id)):
        await background.notifier.request_cancel(str(run_id))
    # A run that paused (requires_action) before the cancel landed is ended here; one that is executing
    # ends through its executor.
    await end_run(background.database, background.notifier, run_id, "cancelled", only_if=("requires_action",))
    terminal = await follower.end(run_id, background.settings.cancel_wait_seconds)
    if terminal is not None and terminal.event == "run.requires_action":  # it paused as the cancel landed
        await end_run(background.database, background.notifier, run_id, "cancelled", only_if=("requires_action",))
    current = await _reload(background, run_id)
    if current.status == "cancelled":
        return RunOut.model_validate(current)
    if current.status in ("completed", "failed"):
        raise _not_cancellable(current)
    return CancelPending(run_id=run_id, events_url=f"/runs/{run_id}/events")


async def _ended_queued(background: Background, run_id: uuid.UUID) -> bool:
    """End a run still queued (it never started); False if it started meanwhile."""
    return await end_run(background.database, background.notifier, run_id, "cancelled", only_if=("queued",))
