"""The run pipeline's guarantees: store first, publish after; retried and reconciled ends; request ids.

A terminal write is made to fail with a real database trigger that refuses to end runs (on
SQLite and on Postgres), so the store's retry and the reconcile path run against real failures.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.runs.background import Background
from tests.runs.conftest import Define
from tests.runs.scripts import Sleep, Slowly, script
from tests.runs.sse import iter_sse, read_sse

_ENDS = "('completed', 'failed', 'cancelled', 'requires_action')"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Reconcile looks at every live run at once; a test may shorten the store's patience (``indirect``)."""
    for name, value in {"reconcile_after_seconds": 0.0, **getattr(request, "param", {})}.items():
        monkeypatch.setattr(settings, name, value)
    return settings


@contextlib.asynccontextmanager
async def runs_cannot_end(database: Database) -> AsyncIterator[None]:
    """A trigger that makes every terminal write of a run fail, until the block is left."""
    async with database.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER axon_test_refuse_end BEFORE UPDATE OF status ON runs "
                    f"WHEN NEW.status IN {_ENDS} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION axon_test_refuse_end() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER axon_test_refuse_end BEFORE UPDATE OF status ON runs FOR EACH ROW "
                    f"WHEN (NEW.status IN {_ENDS}) EXECUTE FUNCTION axon_test_refuse_end()"
                )
            )
    try:
        yield
    finally:
        async with database.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.execute(text("DROP TRIGGER IF EXISTS axon_test_refuse_end"))
            else:
                await conn.execute(text("DROP TRIGGER IF EXISTS axon_test_refuse_end ON runs"))
                await conn.execute(text("DROP FUNCTION IF EXISTS axon_test_refuse_end()"))


class _LogLine(logging.Handler):
    """Set when the ``axon.runs`` logger writes a line containing ``fragment``."""

    def __init__(self, fragment: str) -> None:
        super().__init__(logging.WARNING)
        self.fragment = fragment
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.fragment in record.getMessage():
            self.seen.set()


@contextlib.contextmanager
def _watching(fragment: str) -> Iterator[asyncio.Event]:
    handler = _LogLine(fragment)
    logger = logging.getLogger("axon.runs")
    logger.addHandler(handler)
    try:
        yield handler.seen
    finally:
        logger.removeHandler(handler)


async def _stream(url: str, headers: dict[str, str], seen: list[Any], started: asyncio.Event) -> None:
    """Follow a streamed run over a real connection, collecting events as they arrive."""
    async with (
        httpx.AsyncClient(base_url=url) as http,
        http.stream("POST", "/agents/slow/run/stream", json={"input": "hi"}, headers=headers) as response,
    ):
        assert response.status_code == 200
        async for event in iter_sse(response):
            seen.append(event)
            started.set()


async def test_a_terminal_event_is_published_only_after_its_end_is_stored(
    app: FastAPI,
    live_url: str,
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    define: Define,
) -> None:
    await define("slow", script(Slowly("Hel", 0.05, "lo")).model)
    seen: list[Any] = []
    started = asyncio.Event()
    with _watching("could not store the end of run") as refused:
        async with runs_cannot_end(app.state.database):
            streaming = asyncio.create_task(_stream(live_url, user_headers, seen, started))
            await asyncio.wait_for(refused.wait(), 15)
            await asyncio.wait_for(started.wait(), 15)
            run_id = seen[0].data["run_id"]
            assert [e.event for e in seen if e.event.startswith("run.")] == ["run.started"]  # no terminal yet
            stored = (await client.get(f"/runs/{run_id}", headers=user_headers)).json()
            assert stored["status"] == "running"
    await asyncio.wait_for(streaming, 15)  # the retry after the trigger is gone stores the end

    assert seen[-1].event == "run.completed"
    assert [int(e.id) for e in seen] == list(range(1, len(seen) + 1))
    stored = (await client.get(f"/runs/{run_id}", headers=user_headers)).json()
    assert (stored["status"], stored["output"]) == ("completed", "Hello")


@pytest.mark.parametrize("settings", [{"terminal_write_patience_seconds": 0.2}], indirect=True)
async def test_an_end_that_could_not_be_stored_is_reconciled(
    app: FastAPI,
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    define: Define,
) -> None:
    background: Background = app.state.background
    await define("slow", script("Hello").model)
    session = (await client.post("/sessions", json={"agent": "slow"}, headers=user_headers)).json()
    with _watching("left to reconcile") as given_up:
        async with runs_cannot_end(app.state.database):
            answer = asyncio.create_task(
                client.post("/agents/slow/run", json={"input": "hi", "session_id": session["id"]}, headers=user_headers)
            )
            await asyncio.wait_for(given_up.wait(), 15)
            runs = (await client.get("/runs", headers=user_headers)).json()["items"]
            assert [r["status"] for r in runs] == ["running"]  # the end was never stored, nor published
            assert not answer.done()
    await background.reconcile()

    response = await asyncio.wait_for(answer, 15)
    assert response.status_code == 503
    assert response.json()["error_type"] == "Interrupted"
    run = (await client.get(f"/runs/{runs[0]['run_id']}", headers=user_headers)).json()
    assert (run["status"], run["error"]["error_type"]) == ("failed", "Interrupted")
    released = (await client.get(f"/sessions/{session['id']}", headers=user_headers)).json()
    assert released["active_run_id"] is None


async def test_failed_runs_carry_the_request_id_that_started_them(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("late", script(Sleep(5, "too late")).model)
    headers = {**user_headers, "X-Request-ID": "req-stream-1"}
    body = {"input": "hi", "deadline_ms": 50}
    async with client.stream("POST", "/agents/late/run/stream", json=body, headers=headers) as response:
        events = await read_sse(response)
    failed = events[-1]
    assert (failed.event, failed.data["error_type"], failed.data["request_id"]) == (
        "run.failed",
        "DeadlineExceeded",
        "req-stream-1",
    )
    stored = (await client.get(f"/runs/{failed.data['run_id']}", headers=user_headers)).json()
    assert stored["error"]["request_id"] == "req-stream-1"

    sync = await client.post("/agents/late/run", json=body, headers={**user_headers, "X-Request-ID": "req-sync-2"})
    assert (sync.status_code, sync.json()["request_id"]) == (504, "req-sync-2")
    stored = (await client.get(f"/runs/{sync.json()['run_id']}", headers=user_headers)).json()
    assert stored["error"] == sync.json()
