"""This process's part in background runs: executing them, keeping alive, taking over the dead.

`Background` is created in the lifespan. It

- launches DBOS (`app.runs.durable`) and executes the workflows DBOS hands it, through the same
  `RunExecutor` path as sync and streamed runs (same events, same storage, same terminal write);
- is the durable queue admission hands background runs to (`submit`);
- keeps this executor's heartbeat row (`app.runs.executors`), claims executors whose heartbeat
  went stale (or that stopped gracefully), re-enqueues their pending workflows and ends their
  non-durable runs ``failed`` / ``Interrupted``;
- reconciles every kind of run left live with nobody executing it — a background run whose
  workflow ended outside our code, a run of this process whose end could not be stored while
  the database was away — so no run stays ``queued`` or ``running`` forever;
- on shutdown leaves its background runs pending for a restart or another replica.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import AgentVersion
from app.auth.models import User
from app.config import Settings
from app.db import Database, utcnow
from app.errors import AppError, Interrupted, NotFound, Overloaded
from app.runs import durable
from app.runs.executor import RunExecutor
from app.runs.executors import Executor
from app.runs.models import LIVE_STATUSES, Run, RunEvent, RunStatus
from app.runs.notify import Notifier
from app.runs.queries import principal_of_user
from app.runs.spec import RunSpec, spec_of
from app.runs.store import end_unexecuted
from app.sessions.models import ChatSession

logger = logging.getLogger("axon.runs")

_ENDED_WORKFLOW = frozenset({"SUCCESS", "ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


class BackgroundUnavailable(Overloaded):
    pass


def interrupted() -> Interrupted:
    return Interrupted("The process running this run stopped; it could not be resumed.")


async def end_run(
    database: Database,
    notifier: Notifier,
    run_id: uuid.UUID,
    status: RunStatus,
    error: AppError | None = None,
    only_if: Sequence[RunStatus] = LIVE_STATUSES,
) -> bool:
    """`end_unexecuted`, then wake the run's followers everywhere. False if the run was not in ``only_if``."""
    ended = await end_unexecuted(database, run_id, status, error, only_if)
    if ended is not None:
        await notifier.events_stored(str(run_id))
    return ended is not None


class Background:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        executor: RunExecutor,
        notifier: Notifier,
        agents: durable.DurableAgents,
    ) -> None:
        self.settings = settings
        self.database = database
        self.executor = executor
        self.notifier = notifier
        self.executor_id = executor.worker
        self.agents = agents
        self.stopping = False
        self.enabled = False
        self._maintainer: asyncio.Task[None] | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Register this executor, end what a previous life of its id left, launch DBOS.

        Background runs stay off (``enabled`` false, new ones get 503) when the database is not
        migrated (the service still answers health checks) or when another app in this process
        already runs DBOS (tests).
        """
        self.notifier.on_cancel(self._on_cancel_notice)
        await self.notifier.start()  # cancels and live events from other processes, background or not
        if durable.launched():
            logger.warning("DBOS already runs in this process; background runs are off for this app")
            return
        try:
            async with self.database.sessionmaker() as session, session.begin():
                await self._register(session)
                orphans = await self._orphans(session, self.executor_id)
        except (SQLAlchemyError, OSError):
            logger.warning("background runs are off: the database is not reachable or not migrated")
            return
        for run_id in orphans:  # a previous life of this executor id left them
            await end_run(self.database, self.notifier, run_id, "failed", interrupted())
        await durable.launch(self.settings, self.executor_id, self)
        self.enabled = True
        self._maintainer = asyncio.create_task(self._maintain())

    async def _register(self, session: AsyncSession) -> None:
        now = utcnow()
        row = await session.get(Executor, self.executor_id)
        if row is None:
            session.add(
                Executor(
                    id=self.executor_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            return
        row.hostname, row.pid, row.started_at, row.heartbeat_at = socket.gethostname(), os.getpid(), now, now
        row.stopped_at = row.claimed_by = row.claimed_at = None

    async def stop(self) -> None:
        """After the sync/stream grace period: leave background runs pending, hand them over at once."""
        self.stopping = True
        await self.notifier.stop()
        if not self.enabled:
            return
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.gather(self._maintainer, return_exceptions=True)
        for run_id in list(self._tasks):
            self.executor.detach(run_id)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        with contextlib.suppress(Exception):
            async with self.database.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Executor).where(Executor.id == self.executor_id).values(stopped_at=utcnow())
                )
        await durable.destroy()

    # -- executing --------------------------------------------------------------------------

    async def submit(self, run: Run) -> None:
        await durable.enqueue(run.id, run.owner_id)

    def check_enabled(self) -> None:
        if not self.enabled or self.stopping:
            raise BackgroundUnavailable("Background runs are not available on this instance.", retry_after=5.0)

    async def execute_stored(self, run_id: uuid.UUID) -> None:
        """The body of the DBOS workflow: run a stored background run to its end, in this task."""
        key = str(run_id)
        task = asyncio.current_task()
        assert task is not None
        self._tasks[key] = task
        try:
            claimed = await self._claim(run_id)
            if claimed is None:
                return
            spec, version = claimed
            if await durable.workflow_status(run_id) == "CANCELLED":
                await end_run(self.database, self.notifier, run_id, "cancelled")
                return
            agent = await self.agents.get_durable(version, self.executor.model_for(spec.agent.name))
            await self.executor.run_inline(spec, agent)
        except NotFound as exc:
            await end_run(self.database, self.notifier, run_id, "failed", exc)
        finally:
            self._tasks.pop(key, None)

    async def _claim(self, run_id: uuid.UUID) -> tuple[RunSpec, AgentVersion] | None:
        """Mark the run ``running`` on this executor and rebuild its spec; None if it already ended."""
        async with self.database.sessionmaker() as session, session.begin():
            claimed = await session.scalar(
                update(Run)
                .where(Run.id == run_id, Run.status.in_(LIVE_STATUSES))
                .values(status="running", worker=self.executor_id)
                .returning(Run.id)
                .execution_options(synchronize_session=False)
            )
            if claimed is None:
                return None
            run = await session.get(Run, run_id)
            assert run is not None
            if run.started_at is None:
                run.started_at = utcnow()
            version = await session.scalar(
                select(AgentVersion).where(
                    AgentVersion.agent_id == run.agent_id, AgentVersion.version == run.agent_version
                )
            )
            if version is None:
                raise NotFound("The run's agent version was deleted.", details={"agent": run.agent_name})
            user = await session.get(User, run.owner_id)
            if user is None:
                raise NotFound("The run's owner was deleted.")
            stored_seq = await session.scalar(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id))
            tools = None
            if run.session_id is not None:
                tools = await session.scalar(select(ChatSession.tools).where(ChatSession.id == run.session_id))
            spec = spec_of(run, version, principal_of_user(user), session_tools=tools, start_seq=int(stored_seq or 0))
            return spec, version

    # -- cancel -----------------------------------------------------------------------------

    def _on_cancel_notice(self, run_id: str) -> None:
        self.executor.cancel(run_id)

    # -- keeping alive, taking over ------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("background maintenance failed; retrying")
            await asyncio.sleep(self.settings.executor_heartbeat_seconds)

    async def tick(self) -> None:
        """Heartbeat, take over dead executors, reconcile stuck background runs."""
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=self.settings.executor_dead_after_seconds)
        async with self.database.sessionmaker() as session, session.begin():
            await session.execute(update(Executor).where(Executor.id == self.executor_id).values(heartbeat_at=now))
            dead = list(
                await session.scalars(
                    update(Executor)
                    .where(
                        Executor.id != self.executor_id,
                        Executor.claimed_by.is_(None),
                        (Executor.heartbeat_at < cutoff) | Executor.stopped_at.is_not(None),
                    )
                    .values(claimed_by=self.executor_id, claimed_at=now)
                    .returning(Executor.id)
                    .execution_options(synchronize_session=False)
                )
            )
        for executor_id in dead:
            recovered = await asyncio.to_thread(durable.recover_executor, executor_id)
            async with self.database.sessionmaker() as session:
                orphans = await self._orphans(session, executor_id)
            for run_id in orphans:
                await end_run(self.database, self.notifier, run_id, "failed", interrupted())
            logger.info(
                "took over executor %s: %d background runs re-queued, %d runs interrupted",
                executor_id,
                recovered,
                len(orphans),
            )
        await self.reconcile()
        await self.notifier.ensure_listening()

    async def _orphans(self, session: AsyncSession, executor_id: str) -> list[uuid.UUID]:
        """Non-durable runs a dead executor left live: they cannot be resumed."""
        rows = await session.scalars(select(Run).where(Run.worker == executor_id, Run.status.in_(LIVE_STATUSES)))
        return [run.id for run in rows if not run.run_options.background]

    async def reconcile(self) -> None:
        """End live runs nobody executes any more: a background run whose workflow ended (or never
        existed) without ending it, and a run of this process whose end could not be stored."""
        cutoff = utcnow() - dt.timedelta(seconds=self.settings.reconcile_after_seconds)
        async with self.database.sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(Run).where(Run.status.in_(LIVE_STATUSES), Run.created_at < cutoff).limit(200)
                )
            )
        for run in rows:
            key = str(run.id)
            # A run this process is executing ends through its own task (which owns its live stream),
            # even while DBOS already reports the workflow cancelled.
            if key in self._tasks or self.executor.executing(key):
                continue
            if not run.run_options.background:
                if run.worker == self.executor_id:
                    await end_run(self.database, self.notifier, run.id, "failed", interrupted())
                continue
            status = await durable.workflow_status(run.id)
            if status == "CANCELLED":
                await end_run(self.database, self.notifier, run.id, "cancelled")
            elif status is None or status in _ENDED_WORKFLOW:
                await end_run(self.database, self.notifier, run.id, "failed", interrupted())
