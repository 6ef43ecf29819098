"""Real Axon server processes for durability tests: start, kill -9, stop gracefully, restart.

Each server is ``python -m uvicorn app.main:create_app --factory`` on a free loopback port with
its own ``AXON_EXECUTOR_ID``, fast heartbeats and queue polling. The database is created and
migrated by the test; users and API keys are created through the real auth service.
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.auth import service as auth_service
from app.auth.schemas import UserCreate
from app.config import Settings
from app.db import Database
from tests.databases import scratch_database
from tests.factories import FAST_HASHING
from tests.runs.sse import SSEEvent, iter_sse
from tests.waits import until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "process-test-secret-key-long-enough-for-hs256"
FAST = {
    "AXON_EXECUTOR_HEARTBEAT_SECONDS": "0.3",
    "AXON_EXECUTOR_DEAD_AFTER_SECONDS": "1.5",
    "AXON_QUEUE_POLL_SECONDS": "0.1",
    "AXON_CANCEL_WAIT_SECONDS": "5",
    "AXON_SHUTDOWN_GRACE_SECONDS": "3",
    **{f"AXON_{name.upper()}": str(value) for name, value in FAST_HASHING.items()},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    database_url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict[str, str])
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 90.0) -> None:
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AXON_")},
            "AXON_DATABASE_URL": self.database_url,
            "AXON_SECRET_KEY": SECRET,
            "AXON_EXECUTOR_ID": self.name,
            **FAST,
            **self.env,
        }
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--log-level", "warning"),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        async def live() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"server {self.name} exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                return (await http.get(f"{self.url}/health/live")).status_code == 200
            return False

        async with httpx.AsyncClient(trust_env=False) as http:
            await until(live, within, every=0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.kill()
        await asyncio.wait_for(self.process.wait(), 10)

    async def terminate(self, within: float = 20.0) -> int:
        """SIGTERM: uvicorn's graceful shutdown (the lifespan's shutdown runs)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), within)

    async def stop_quietly(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)

    def client(self, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=headers, trust_env=False, timeout=30.0)


def fresh_database(backend: str, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[str]:
    """A migrated database of its own (the server processes also put DBOS's tables in it)."""
    return scratch_database(backend, tmp_path, "axon_procs", migrated=True)


async def api_key(database_url: str, username: str, role: str = "user") -> dict[str, str]:
    database = Database(database_url)
    try:
        async with database.sessionmaker() as session, session.begin():
            user = await auth_service.create_user(
                session,
                Settings(database_url=database_url, secret_key=SECRET, **FAST_HASHING),  # type: ignore[arg-type]
                UserCreate(username=username, password="correct horse battery", role=role),  # type: ignore[arg-type]
            )
            _, key = await auth_service.create_api_key(session, user.id, "test")
    finally:
        await database.dispose()
    return {"Authorization": f"Bearer {key}"}


async def read_events(
    http: httpx.AsyncClient,
    run_id: str,
    after: int | None = None,
    within: float = 30.0,
    streaming: asyncio.Event | None = None,
) -> list[SSEEvent]:
    """``GET /runs/{id}/events`` to its terminal event (bounded); ``streaming`` is set at the first event."""
    params: dict[str, Any] = {} if after is None else {"after": after}
    events: list[SSEEvent] = []
    async with asyncio.timeout(within), http.stream("GET", f"/runs/{run_id}/events", params=params) as response:
        assert response.status_code == 200, await response.aread()
        async for event in iter_sse(response):
            events.append(event)
            if streaming is not None:
                streaming.set()
    return events
