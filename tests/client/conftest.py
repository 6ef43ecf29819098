"""One real Axon server (uvicorn over loopback TCP) per backend for the whole client package.

Agents run on scripted pydantic-ai models: a test registers ``axon.models[name] = model`` before it runs
agent ``name``. Tests share the server's database, so each uses its own agent names.
"""

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from axon_client import AxonClient
from fastapi import FastAPI
from pydantic_ai.models import Model

from tests.conftest import empty_tables
from tests.doubles.server import serve
from tests.factories import auth_headers


@dataclass
class Axon:
    url: str
    admin_key: str
    user_key: str
    models: dict[str, Model] = field(default_factory=dict[str, Model])
    _names: "itertools.count[int]" = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        """A fresh agent name."""
        return f"{prefix}-{next(self._names)}"

    def client(self, *, url: str | None = None, key: str | None = None, **options: object) -> AxonClient:
        return AxonClient(url or self.url, api_key=key or self.user_key, **options)  # pyright: ignore[reportArgumentType]


@pytest.fixture(scope="package")
async def axon(session_app: FastAPI, session_models: dict[str, Model]) -> AsyncIterator[Axon]:
    """The session's app (its DBOS runs the background runs) behind a real server for the whole package."""
    try:
        async with serve(session_app) as port:
            admin = (await auth_headers(session_app, "client-root", role="admin"))["Authorization"]
            user = (await auth_headers(session_app, "client-alice"))["Authorization"]
            yield Axon(
                url=f"http://127.0.0.1:{port}",
                admin_key=admin.removeprefix("Bearer "),
                user_key=user.removeprefix("Bearer "),
                models=session_models,
            )
    finally:
        session_models.clear()
        await empty_tables(session_app.state.database)


@pytest.fixture
async def client(axon: Axon) -> AsyncIterator[AxonClient]:
    async with axon.client() as http:
        yield http


Define = Callable[..., object]


@pytest.fixture
def define(axon: Axon, client: AxonClient) -> Callable[..., object]:
    """``await define(prefix, model, **fields)``: a new agent (named after ``prefix``) that runs on ``model``."""

    async def create(prefix: str, model: Model | None = None, **fields: object) -> str:
        name = axon.name(prefix)
        await client.agents.create({"name": name, "model": "test", "instructions": "Be brief.", **fields})
        if model is not None:
            axon.models[name] = model
        return name

    return create
