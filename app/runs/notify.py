"""Live wake-ups between processes: "run X has new events" and "cancel run X".

On Postgres every process keeps one asyncpg connection that ``LISTEN``s on two channels;
a writer sends ``pg_notify`` after it commits. On SQLite (one process) the same calls stay in
process. Either way a wake-up only says "look again": readers re-read the database, so a lost
notification costs at most the fallback poll interval, never an event.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import asyncpg  # pyright: ignore[reportMissingTypeStubs]
from sqlalchemy import make_url, text

from app.db import Database

logger = logging.getLogger("axon.runs")

EVENTS_CHANNEL = "axon_run_events"
CANCEL_CHANNEL = "axon_run_cancel"
FALLBACK_POLL_SECONDS = 1.0
"""Readers re-check the database at least this often, notification or not."""

CancelHandler = Callable[[str], None]
_pg_connect: Callable[..., Awaitable[Any]] = asyncpg.connect  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


class Wake:
    """One reader's wake-up flag for one run."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float = FALLBACK_POLL_SECONDS) -> None:
        """Until a notification arrived since the last wait, or ``seconds`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


class Notifier:
    def __init__(self, database: Database, database_url: str) -> None:
        self.database = database
        self._url = database_url
        self._postgres = database_url.startswith("postgresql")
        self._conn: Any = None
        self._wakes: dict[str, set[Wake]] = {}
        self._cancel_handlers: list[CancelHandler] = []

    async def start(self) -> None:
        """Listen (Postgres); a database that cannot be reached now is retried by `ensure_listening`."""
        await self.ensure_listening()

    async def _connect(self) -> None:
        dsn = make_url(self._url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn: Any = await _pg_connect(dsn)
        await conn.add_listener(EVENTS_CHANNEL, self._on_notification)
        await conn.add_listener(CANCEL_CHANNEL, self._on_notification)
        self._conn = conn

    async def ensure_listening(self) -> None:
        """Reconnect the listener if its connection was lost (called from the heartbeat)."""
        if self._postgres and (self._conn is None or self._conn.is_closed()):
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError):
                logger.warning("could not reconnect the notification listener; readers poll meanwhile")

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Generator[Wake]:
        """Register before reading the database, so nothing written after the read is missed."""
        wake = Wake()
        self._wakes.setdefault(run_id, set()).add(wake)
        try:
            yield wake
        finally:
            wakes = self._wakes.get(run_id)
            if wakes is not None:
                wakes.discard(wake)
                if not wakes:
                    del self._wakes[run_id]

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._dispatch(channel, payload)

    def _dispatch(self, channel: str, run_id: str) -> None:
        if channel == EVENTS_CHANNEL:
            for wake in self._wakes.get(run_id, ()):
                wake.set()
        elif channel == CANCEL_CHANNEL:
            for handler in self._cancel_handlers:
                handler(run_id)

    async def publish(self, channel: str, run_id: str) -> None:
        """Tell this process at once and, on Postgres, every other process (after the caller committed)."""
        self._dispatch(channel, run_id)
        if not self._postgres:
            return
        try:
            async with self.database.engine.connect() as conn:
                await conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": run_id}
                )
                await conn.commit()
        except Exception:
            logger.warning("could not send a notification on %s; readers poll meanwhile", channel)

    async def events_stored(self, run_id: str) -> None:
        await self.publish(EVENTS_CHANNEL, run_id)

    async def request_cancel(self, run_id: str) -> None:
        await self.publish(CANCEL_CHANNEL, run_id)
