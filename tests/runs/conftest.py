"""Helpers for run tests: define agents over HTTP and run them on scripted pydantic-ai models."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic_ai.models import Model

from app.runs.executor import RunExecutor

Define = Callable[..., Any]


@pytest.fixture
def executor(app: FastAPI) -> RunExecutor:
    run_executor: RunExecutor = app.state.run_executor
    return run_executor


@pytest.fixture
def define(client: httpx.AsyncClient, user_headers: dict[str, str], scripted_models: dict[str, Model]) -> Define:
    """``await define(name, model, **definition)``: store an agent for alice and run it on ``model``."""

    async def create(
        name: str, model: Model | None = None, headers: dict[str, str] | None = None, **fields: Any
    ) -> Any:
        definition = {"name": name, "model": "test", "instructions": "Be brief.", **fields}
        response = await client.post("/agents", json=definition, headers=headers or user_headers)
        assert response.status_code == 201, response.text
        if model is not None:
            scripted_models[name] = model
        return response.json()

    return create


@pytest.fixture
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The app (lifespan already entered) behind a real uvicorn server on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def wait_for_status(client: httpx.AsyncClient, run_id: str, headers: dict[str, str], status: str) -> Any:
    for _ in range(300):
        run = (await client.get(f"/runs/{run_id}", headers=headers)).json()
        if run["status"] == status:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {status}: {run}")
