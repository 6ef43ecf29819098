"""Fixtures: the real app over ASGI, on SQLite and (when configured) on Postgres.

Every test runs once per backend. Each backend's database is created fresh and
migrated with the production migrations once per session, and one app per backend
serves the whole session; after every test its tables are emptied and its caches
dropped. Tests that need an app of their own (other settings, restarts) make one.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic_ai.models
import pytest
from fastapi import FastAPI
from pydantic_ai.models import Model
from sqlalchemy import func, select

from app.auth.ratelimit import LoginLimiter
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Base
from app.runs.models import Run
from tests.databases import BACKENDS, POSTGRES_URL, scratch_database
from tests.factories import FAST_HASHING, Seed, seed_user
from tests.waits import until

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False


def pytest_report_header() -> str:
    return f"axon backends: {', '.join(BACKENDS)}" + (
        "" if POSTGRES_URL else " (set AXON_TEST_POSTGRES_URL for Postgres)"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests really ran on each backend, so a CI log shows the Postgres ones."""
    for backend in BACKENDS:
        passed = [r for r in terminalreporter.stats.get("passed", []) if f"[{backend}" in r.nodeid]
        terminalreporter.write_line(f"axon: {len(passed)} tests passed on {backend}")


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A freshly created and migrated database for this backend."""
    folder = tmp_path_factory.mktemp(request.param)
    async with scratch_database(request.param, folder, "axon_test", migrated=True) as url:
        yield url


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty (never migrated) database on this test's backend, dropped afterwards."""
    async with scratch_database(backend, tmp_path, "axon_empty", migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
LIVE = ("queued", "running")


def app_settings(database_url: str) -> Settings:
    """The settings of the shared app (fast queue polling, one background run per owner at a time)."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "env": "development",
        "secret_key": TEST_SECRET,
        "login_max_failures": 5,
        "queue_poll_seconds": 0.05,
        "max_concurrent_runs_per_owner": 1,
        "cancel_wait_seconds": 5.0,
        **FAST_HASHING,
    }
    return Settings(**fields)


@pytest.fixture(scope="session")
def session_models() -> dict[str, Model]:
    return {}


@pytest.fixture(scope="session")
async def session_app(database_url: str, session_models: dict[str, Model]) -> AsyncIterator[FastAPI]:
    """One app per backend for the whole session (DBOS launched once).

    Backends run one after the other (``database_url`` is a parametrized session fixture), so the
    SQLite app, and its DBOS, is gone before the Postgres app launches its own.
    """
    application = create_app(app_settings(database_url), model_resolver=session_models.get)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def scripted_models(session_models: dict[str, Model]) -> Iterator[dict[str, Model]]:
    """Agent name → the scripted model its runs use (the shared app's ``model_resolver``)."""
    yield session_models
    session_models.clear()


@pytest.fixture
def settings(session_app: FastAPI) -> Settings:
    """The shared app's settings. Change request-time knobs with ``monkeypatch.setattr`` (undone after the test)."""
    shared: Settings = session_app.state.settings
    return shared


@pytest.fixture
async def app(
    request: pytest.FixtureRequest, session_app: FastAPI, settings: Settings, scripted_models: dict[str, Model]
) -> AsyncIterator[FastAPI]:
    """The shared app, as new: empty tables, no login failures, no cached agents.

    A test marked ``own_app`` (it shuts the app down, say) gets an app of its own on the same
    database instead; background runs are off there (DBOS runs once per process, in the shared app).
    """
    if request.node.get_closest_marker("own_app"):
        application = create_app(settings, model_resolver=scripted_models.get)
        try:
            async with application.router.lifespan_context(application):
                yield application
        finally:
            await empty_tables(session_app.state.database)
        return
    session_app.state.login_limiter = LoginLimiter(settings.login_max_failures, settings.login_failure_window_seconds)
    try:
        yield session_app
    finally:
        await _settle(session_app.state.database)
        session_app.state.agent_factory.clear()
        await empty_tables(session_app.state.database)


async def _settle(database: Database, within: float = 10.0) -> None:
    """Let runs a test left going (a background run it did not wait for) end before the tables go."""

    async def idle() -> bool:
        async with database.sessionmaker() as session:
            live = await session.scalar(select(func.count()).select_from(Run).where(Run.status.in_(LIVE)))
        return not live

    with contextlib.suppress(TimeoutError):
        await until(idle, within)


async def empty_tables(database: Database) -> None:
    """``DELETE`` children first: on tables of a few rows far cheaper than Postgres's ``TRUNCATE``."""
    async with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as http:
        yield http


@pytest.fixture(scope="session")
def seeded() -> dict[tuple[str, str], Seed]:
    """(database url, username) → the rows of a user and API key made once per backend."""
    return {}


async def _seeded_headers(
    app: FastAPI, seeded: dict[tuple[str, str], Seed], username: str, role: str = "user"
) -> dict[str, str]:
    """A user with an API key: made through the real services once, restored from its rows afterwards."""
    database: Database = app.state.database
    key = (str(database.engine.url), username)
    if key not in seeded:
        seeded[key] = await seed_user(app, username, role)
    else:
        await seeded[key].restore(database)
    return seeded[key].headers


@pytest.fixture
async def admin_headers(app: FastAPI, seeded: dict[tuple[str, str], Seed]) -> dict[str, str]:
    return await _seeded_headers(app, seeded, "root", role="admin")


@pytest.fixture
async def user_headers(app: FastAPI, seeded: dict[tuple[str, str], Seed]) -> dict[str, str]:
    return await _seeded_headers(app, seeded, "alice")


@pytest.fixture
async def other_headers(app: FastAPI, seeded: dict[tuple[str, str], Seed]) -> dict[str, str]:
    return await _seeded_headers(app, seeded, "mallory")
