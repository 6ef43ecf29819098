"""A database outage is a typed, retryable `503 DatabaseUnavailable`, never a 500 or a dropped request,
and no run outlives it in a live state (its end is retried until the database is back).

The app reaches Postgres through `tests.doubles.tcp_proxy.TcpProxy`; the test cuts the proxy (every
connection reset, new ones refused) for about a second under concurrent load, then restores it.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic_ai.models import Model

from app.config import Settings
from app.main import create_app
from tests.databases import POSTGRES_URL, scratch_database
from tests.doubles.tcp_proxy import TcpProxy
from tests.factories import auth_headers
from tests.runs.scripts import Sleep, script

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs AXON_TEST_POSTGRES_URL"),
]

WORKERS = 12
CUT_SECONDS = 1.0


@dataclass
class Outcome:
    request: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    exception: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status < 300

    @property
    def database_unavailable(self) -> bool:
        return (
            self.status == 503
            and isinstance(self.body, dict)
            and self.body.get("error_type") == "DatabaseUnavailable"
            and self.body.get("retryable") is True
            and self.headers is not None
            and self.headers.get("retry-after") == "1"
            and self.headers.get("x-should-retry") == "true"
        )


@dataclass
class Outage:
    """The app behind a cuttable proxy, and a client that sees whatever escapes the app."""

    app: FastAPI
    proxy: TcpProxy
    client: httpx.AsyncClient
    headers: dict[str, str]


@pytest.fixture
async def outage(tmp_path: Path, scripted_models: dict[str, Model]) -> AsyncIterator[Outage]:
    async with (
        scratch_database("postgres", tmp_path, "axon_outage", migrated=True) as direct_url,
        TcpProxy.to_database(direct_url) as proxy,
    ):
        settings = Settings(
            database_url=proxy.url_for(direct_url),
            env="development",
            secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        )
        app = create_app(settings, model_resolver=scripted_models.get)
        async with app.router.lifespan_context(app):
            # raise_app_exceptions: an exception escaping the app is what a server turns into a dropped connection.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
                yield Outage(app, proxy, client, await auth_headers(app, "alice"))
            await proxy.restore()  # let the lifespan shut down cleanly


async def _send(outage: Outage, method: str, path: str, body: Any = None) -> Outcome:
    outcome = Outcome(f"{method} {path}")
    try:
        response = await outage.client.request(method, path, json=body, headers=outage.headers)
    except (Exception, asyncio.CancelledError) as exc:  # a CancelledError from the app is a dropped connection too
        outcome.exception = f"{type(exc).__name__}: {exc}"
        return outcome
    outcome.status, outcome.headers = response.status_code, dict(response.headers)
    try:
        outcome.body = response.json()
    except ValueError:
        outcome.body = response.text
    return outcome


async def _agents_traffic(outage: Outage, worker: int, n: int) -> Outcome:
    """Reads and writes of non-run routes."""
    if n % 2:
        definition = {"name": f"w{worker}-{n}", "model": "test", "instructions": "Be brief."}
        return await _send(outage, "POST", "/agents", definition)
    return await _send(outage, "GET", "/agents")


async def _runs_traffic(outage: Outage, worker: int, n: int) -> Outcome:
    """Sync runs, each writing its row, its events and its end."""
    return await _send(outage, "POST", "/agents/steady/run", {"input": f"{worker}-{n}"})


@dataclass
class Load:
    """Requests back to back by `WORKERS` concurrent clients."""

    outage: Outage
    request: Callable[[Outage, int, int], Awaitable[Outcome]]
    outcomes: list[Outcome] = field(default_factory=list[Outcome])
    warmed_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every worker could have succeeded once: the app is serving before the cut."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, count: int) -> None:
        """Until ``count`` requests were answered."""
        while len(self.outcomes) < count:
            self.answered.clear()
            await self.answered.wait()

    async def worker(self, worker: int) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            self.outcomes.append(await self.request(self.outage, worker, n))
            self.answered.set()
            if sum(o.succeeded for o in self.outcomes) >= WORKERS:
                self.warmed_up.set()
            await asyncio.sleep(0)


async def test_runs_during_an_outage_end_typed_and_none_stays_live(
    outage: Outage, scripted_models: dict[str, Model]
) -> None:
    scripted_models["steady"] = script(Sleep(0.05, "ok")).model
    assert (await _send(outage, "POST", "/agents", {"name": "steady", "model": "test"})).status == 201
    load = Load(outage, _runs_traffic)
    workers = [asyncio.create_task(load.worker(worker)) for worker in range(WORKERS)]
    async with asyncio.timeout(30):
        await load.warmed_up.wait()
    await outage.proxy.cut()
    cut_at = len(load.outcomes)
    await asyncio.sleep(CUT_SECONDS)  # the outage itself is a span of time
    await outage.proxy.restore()
    async with asyncio.timeout(60):  # every run admitted before or during the cut ends once the database is back
        await load.until(len(load.outcomes) + 2 * WORKERS)
    load.stop.set()
    await asyncio.gather(*workers)

    refused = [o for o in load.outcomes if not (o.succeeded or o.database_unavailable)]
    assert refused == []
    assert any(o.database_unavailable for o in load.outcomes[cut_at:]), "the cut was not noticed"
    live = [
        run
        for status in ("queued", "running")
        for run in (await _send(outage, "GET", f"/runs?status={status}")).body["items"]
    ]
    assert live == []
    assert all(o.body["status"] == "completed" for o in load.outcomes if o.succeeded)


async def test_requests_during_an_outage_get_503_database_unavailable_then_succeed(outage: Outage) -> None:
    load = Load(outage, _agents_traffic)
    outcomes = load.outcomes
    workers = [asyncio.create_task(load.worker(worker)) for worker in range(WORKERS)]

    async with asyncio.timeout(30):
        await load.warmed_up.wait()
    await outage.proxy.cut()
    cut_at = len(outcomes)
    await asyncio.sleep(0.3)
    ready_during = await outage.client.get("/health/ready")
    await asyncio.sleep(CUT_SECONDS - 0.3)
    await outage.proxy.restore()
    restored_at = len(outcomes)
    await asyncio.sleep(1.5)
    load.stop.set()
    await asyncio.gather(*workers)

    refused = [o for o in outcomes if not (o.succeeded or o.database_unavailable)]
    assert refused == []
    assert any(o.database_unavailable for o in outcomes[cut_at:restored_at]), "the cut was not noticed"
    assert any(o.succeeded for o in outcomes[:cut_at])
    assert ready_during.status_code == 503
    assert (ready_during.json()["status"], ready_during.headers.get("x-should-retry")) == ("error", "true")

    # After the restore the pool replaces its dead connections: everything succeeds again.
    after = [await _send(outage, "GET", "/agents") for _ in range(5)]
    after += [await _send(outage, "POST", "/agents", {"name": f"after-{i}", "model": "test"}) for i in range(5)]
    assert [(o.request, o.status) for o in after] == [
        (o.request, 200 if o.request.startswith("GET") else 201) for o in after
    ]
    assert (await outage.client.get("/health/ready")).status_code == 200
