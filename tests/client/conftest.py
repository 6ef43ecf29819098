"""One real Axon server (uvicorn over loopback TCP) per backend for the whole client package.

Agents run on scripted pydantic-ai models: a test registers ``axon.models[name] = model`` before it runs
agent ``name``. Tests share the server's database, so each uses its own agent names.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import uvicorn
from axon_client import AxonClient
from pydantic_ai.models import Model
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.main import create_app
from app.models import Base
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


async def _empty_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture(scope="package")
async def axon(database_url: str) -> AsyncIterator[Axon]:
    settings = Settings(
        database_url=database_url,
        env="development",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        queue_poll_seconds=0.05,
    )
    models: dict[str, Model] = {}
    app = create_app(settings, model_resolver=models.get)
    try:
        async with app.router.lifespan_context(app):
            config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            admin = (await auth_headers(app, "client-root", role="admin"))["Authorization"].removeprefix("Bearer ")
            user = (await auth_headers(app, "client-alice"))["Authorization"].removeprefix("Bearer ")
            try:
                yield Axon(url=f"http://127.0.0.1:{port}", admin_key=admin, user_key=user, models=models)
            finally:
                server.should_exit = True
                await task
    finally:
        await _empty_tables(database_url)


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
