"""Fixtures: the real app over ASGI, on SQLite and (when configured) on Postgres.

Every test runs once per backend. Each backend's database is created fresh and
migrated with the production migrations once per session; tables are emptied
after every test.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pydantic_ai.models
import pytest
from fastapi import FastAPI
from pydantic_ai.models import Model
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.main import create_app
from app.models import Base
from tests.databases import BACKENDS, POSTGRES_URL, scratch_database
from tests.factories import auth_headers

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


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        env="development",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        login_max_failures=5,
    )


async def _empty_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            tables = list(reversed(Base.metadata.sorted_tables))
            if database_url.startswith("postgresql"):
                names = ", ".join(f'"{t.name}"' for t in tables)
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
            else:
                for table in tables:
                    await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
def scripted_models() -> dict[str, Model]:
    """Agent name → the scripted model its runs use (the app's ``model_resolver``)."""
    return {}


@pytest.fixture
async def app(settings: Settings, scripted_models: dict[str, Model]) -> AsyncIterator[FastAPI]:
    application = create_app(settings, model_resolver=scripted_models.get)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await _empty_tables(settings.database_url)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as http:
        yield http


@pytest.fixture
async def admin_headers(app: FastAPI) -> dict[str, str]:
    return await auth_headers(app, "root", role="admin")


@pytest.fixture
async def user_headers(app: FastAPI) -> dict[str, str]:
    return await auth_headers(app, "alice")


@pytest.fixture
async def other_headers(app: FastAPI) -> dict[str, str]:
    return await auth_headers(app, "mallory")
