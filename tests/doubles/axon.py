"""Small steps every provider-path test takes through the Axon API, and the real wire for SSE."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.db import Database
from app.runs.models import RunEvent
from tests.doubles.openai_upstream import ScriptedUpstream
from tests.doubles.server import serve

ENDPOINT = "upstream"
MODEL = f"{ENDPOINT}:gpt-test"
UPSTREAM_KEY = "sk-upstream-secret-0123456789"


async def register_upstream(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: ScriptedUpstream
) -> None:
    """The admin points the model endpoint ``upstream`` at the scripted server."""
    body = {"name": ENDPOINT, "base_url": upstream.base_url, "api_key": UPSTREAM_KEY}
    response = await client.post("/model-endpoints", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text


async def define_agent(client: httpx.AsyncClient, headers: dict[str, str], name: str, **definition: Any) -> None:
    body = {"name": name, "model": MODEL, "instructions": "You are a test agent.", **definition}
    response = await client.post("/agents", json=body, headers=headers)
    assert response.status_code == 201, response.text


@contextlib.asynccontextmanager
async def live_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``app`` under a real uvicorn on loopback (SSE framing, disconnects)."""
    async with serve(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
        yield http


async def stored_events(app: FastAPI, run_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    """``(seq, event, data)`` of a run's stored events, in order, read from the database."""
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(RunEvent).where(RunEvent.run_id == uuid.UUID(run_id)).order_by(RunEvent.seq)
        )
        return [(row.seq, row.event, row.data) for row in rows]
