"""Helpers for run tests: define agents over HTTP and run them on scripted pydantic-ai models."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic_ai.models import Model

from app.runs.executor import RunExecutor
from tests.doubles.server import serve

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
    async with serve(app) as port:
        yield f"http://127.0.0.1:{port}"
