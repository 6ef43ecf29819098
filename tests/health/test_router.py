"""GET /health/live and /health/ready: no auth; 503 envelope when the database cannot serve."""

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dirty_equals import IsStr

from app.config import Settings
from app.main import create_app
from app.migrate import head_revision


@asynccontextmanager
async def _client_for(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"database_url": database_url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
            yield client


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_live(client: httpx.AsyncClient):
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "migration": None}


async def test_ready_when_migrated(client: httpx.AsyncClient, database_url: str):
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "migration": head_revision(database_url)}


async def test_not_ready_when_the_database_is_unreachable(settings: Settings):
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/axon"
    async with _client_for(settings, url) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")

    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json() == {
        "status": "error",
        "error_type": "Overloaded",
        "message": "Database unreachable.",
        "details": None,
        "retryable": True,
        "retry_after": 5.0,
        "run_id": None,
        "request_id": IsStr(),
    }
    assert "postgres@" not in ready.text


async def test_not_ready_when_the_database_was_never_migrated(settings: Settings, empty_database_url: str):
    async with _client_for(settings, empty_database_url) as client:
        ready = await client.get("/health/ready")

    assert ready.status_code == 503
    assert ready.json() == {
        "status": "error",
        "error_type": "Overloaded",
        "message": "Database schema is not at the latest migration; run `axon migrate`.",
        "details": {"current": None, "expected": head_revision(empty_database_url)},
        "retryable": True,
        "retry_after": 5.0,
        "run_id": None,
        "request_id": IsStr(),
    }
