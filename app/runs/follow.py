"""Following a run: its events after a position, live from this process or stored by any process.

The one follower behind replay (``GET /runs/{id}/events``), streams, ``wait_ms``, sync answers,
sub-runs and cancel. A run this process executes is followed through its channel; any other run
(another replica's, or one whose executor gave up on storing its end) is read from the database,
re-read whenever the notifier says that run has new events (with the notifier's fallback poll).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select

from app.db import Database
from app.runs.events import TERMINAL_EVENTS, LiveChannels, RunEventOut
from app.runs.models import TERMINAL_STATUSES, Run, RunEvent
from app.runs.notify import Notifier
from app.runs.store import stored_events


class Follower:
    """Reads runs for this process: its live channels, the database, the notifier's wake-ups."""

    def __init__(self, live: LiveChannels, database: Database, notifier: Notifier) -> None:
        self.live = live
        self.database = database
        self.notifier = notifier

    async def events(self, run_id: uuid.UUID, after: int = 0) -> AsyncIterator[RunEventOut]:
        """Every event after ``after`` up to and including the terminal one (or, for a run whose stored
        events were pruned or that was deleted, as many as there are)."""
        async for event in self._follow(run_id, after, only_terminal=False):
            yield event

    async def end(self, run_id: uuid.UUID, timeout_s: float | None = None) -> RunEventOut | None:
        """The run's terminal event, or None if ``timeout_s`` passes first (or the run has none)."""
        try:
            async with asyncio.timeout(timeout_s):
                async for event in self._follow(run_id, 0, only_terminal=True):
                    return event
        except TimeoutError:
            return None
        return None

    async def _follow(self, run_id: uuid.UUID, after: int, *, only_terminal: bool) -> AsyncIterator[RunEventOut]:
        key = str(run_id)
        with self.notifier.subscribe(key) as wake:  # before reading: nothing written after the read is missed
            while True:
                channel = self.live.get(key)
                if channel is not None:
                    async for event in channel.subscribe(after):
                        after = event.seq
                        if event.terminal or not only_terminal:
                            yield event
                        if event.terminal:
                            return
                    # The executor finished without publishing an end here: the database has (or will have) it.
                status, events = await self._stored(run_id, after, only_terminal=only_terminal)
                for event in events:
                    after = event.seq
                    yield event
                    if event.terminal:
                        return
                if status is None or status in TERMINAL_STATUSES:
                    return  # deleted, or its terminal event was pruned
                if key not in self.live:
                    await wake.wait()

    async def _stored(
        self, run_id: uuid.UUID, after: int, *, only_terminal: bool
    ) -> tuple[str | None, list[RunEventOut]]:
        """The run's status, then its events (the status first: a terminal one guarantees the terminal
        event is stored, as both are written in one transaction)."""
        async with self.database.sessionmaker() as session:
            status = await session.scalar(select(Run.status).where(Run.id == run_id))
            if not only_terminal:
                return status, await stored_events(session, run_id, after)
            if status not in TERMINAL_STATUSES:
                return status, []
            row = (
                await session.execute(
                    select(RunEvent.seq, RunEvent.event, RunEvent.data)
                    .where(RunEvent.run_id == run_id, RunEvent.event.in_(TERMINAL_EVENTS))
                    .order_by(RunEvent.seq.desc())
                    .limit(1)
                )
            ).first()
            return status, [RunEventOut(row[0], row[1], row[2])] if row else []
