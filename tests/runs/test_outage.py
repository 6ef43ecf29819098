"""A database restart under load (issue: no 500, no dropped connection, no run left live).

The app reaches the real Postgres through a loopback TCP proxy the test controls; the outage cuts
every open database connection and refuses new ones for a while, as a restart or failover does.
"""

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from pydantic_ai.models import Model
from sqlalchemy import make_url

from app.config import Settings
from app.main import create_app
from tests.doubles.server import serve
from tests.doubles.tcp_proxy import Proxy
from tests.factories import auth_headers
from tests.runs.scripts import Sleep, script

CLIENTS = 8
OUTAGE_SECONDS = 1.5


async def _load(
    http: httpx.AsyncClient, headers: dict[str, str], answers: list[Any], done: asyncio.Event, stop: asyncio.Event
) -> None:
    """One client running sync runs back to back; every answer (or transport failure) is kept."""
    while not stop.is_set():
        try:
            answers.append(await http.post("/agents/steady/run", json={"input": "hi"}, headers=headers))
        except httpx.TransportError as exc:
            answers.append(exc)
        done.set()


async def _answers_after(answers: list[Any], done: asyncio.Event, count: int) -> None:
    async with asyncio.timeout(60):
        while len(answers) < count:
            done.clear()
            await done.wait()


async def test_a_database_restart_under_load_is_typed_retryable_and_leaves_no_run_live(
    backend: str, database_url: str, settings: Settings, scripted_models: dict[str, Model]
) -> None:
    if backend != "postgres":
        pytest.skip("a database server restart: the Postgres backend (SQLite is a file in the process)")
    url = make_url(database_url)
    async with Proxy(upstream_port=url.port or 5432).running() as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        # DBOS launches blocking on this loop, which also runs the proxy: its own connections go direct.
        update = {"database_url": proxied, "dbos_system_database_url": database_url}
        app = create_app(settings.model_copy(update=update), model_resolver=scripted_models.get)
        scripted_models["steady"] = script(Sleep(0.05, "ok")).model
        async with app.router.lifespan_context(app), serve(app) as port:
            headers = await auth_headers(app, "olga")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                created = await http.post("/agents", json={"name": "steady", "model": "test"}, headers=headers)
                assert created.status_code == 201, created.text
                answers: list[Any] = []
                done, stop = asyncio.Event(), asyncio.Event()
                clients = [asyncio.create_task(_load(http, headers, answers, done, stop)) for _ in range(CLIENTS)]
                await _answers_after(answers, done, CLIENTS)
                with proxy.outage():
                    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself is a span of time
                await _answers_after(answers, done, len(answers) + 2 * CLIENTS)  # served again
                stop.set()
                await asyncio.gather(*clients)

                live = [
                    run
                    for status in ("queued", "running")
                    for run in (await http.get("/runs", params={"status": status}, headers=headers)).json()["items"]
                ]

    dropped = [a for a in answers if isinstance(a, Exception)]
    assert dropped == []
    kinds = Counter((a.status_code, a.json().get("error_type")) for a in answers)
    assert set(kinds) <= {(200, None), (503, "DatabaseUnavailable")}, kinds
    assert kinds[(503, "DatabaseUnavailable")] > 0, "the outage was not felt"
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["x-should-retry"] == "true"
            assert float(answer.headers["retry-after"]) > 0
            assert answer.json()["retryable"] is True
    assert live == []
