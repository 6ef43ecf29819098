"""The `axon` console script (API.md §8), run as a real subprocess."""

import asyncio
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from dirty_equals import IsStr
from fastapi import FastAPI

from app import migrate
from app.config import SECRET_FILE_NAME
from app.db import create_engine
from tests.factories import FAST_HASHING, create_user

AXON = str(Path(sys.executable).parent / "axon")
STARTUP_TIMEOUT = 60.0


def _environment(database_url: str, **extra: str) -> dict[str, str]:
    """This process's environment without any Axon configuration, plus the given settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AXON_") and key != "DATABASE_URL"}
    cheap_hashing = {f"AXON_{name.upper()}": str(value) for name, value in FAST_HASHING.items()}
    return {**env, "AXON_DATABASE_URL": database_url, **cheap_hashing, **extra}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def _axon(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> Result:
    process = await asyncio.create_subprocess_exec(
        AXON,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=STARTUP_TIMEOUT)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


@pytest.mark.usefixtures("app")  # empties the tables afterwards
async def test_users_create_and_api_keys_create(client: httpx.AsyncClient, database_url: str, tmp_path: Path):
    env = _environment(database_url)

    created = await _axon(
        "users", "create", "ops", "--password", "-", "--admin", env=env, cwd=tmp_path, stdin="s3cret-passw0rd\n"
    )
    keyed = await _axon("api-keys", "create", "ops", "--name", "deploy", env=env, cwd=tmp_path)

    assert created.returncode == 0, created.stderr
    assert created.stdout == IsStr(regex=r"created admin ops \([0-9a-f-]{36}\)\n")
    assert keyed.returncode == 0, keyed.stderr
    key = keyed.stdout.splitlines()[-1]
    assert key == IsStr(regex=r"axk_[A-Za-z0-9_-]{43,}")
    by_key = await client.get("/users/me", headers={"Authorization": f"Bearer {key}"})
    assert by_key.json() == {"id": IsStr(), "username": "ops", "role": "admin", "created_at": IsStr()}
    token = await client.post("/auth/token", data={"username": "ops", "password": "s3cret-passw0rd"})
    assert token.status_code == 200
    keys = await client.get("/api-keys", headers={"Authorization": f"Bearer {key}"})
    assert [item["name"] for item in keys.json()["items"]] == ["deploy"]


async def test_cli_errors_are_one_line_without_traceback(app: FastAPI, database_url: str, tmp_path: Path):
    env = _environment(database_url)
    await create_user(app, "ops")

    duplicate, too_short, unknown = await asyncio.gather(  # independent failures: the processes run side by side
        _axon("users", "create", "ops", "--password", "long-enough-password", env=env, cwd=tmp_path),
        _axon("users", "create", "dev", "--password", "short", env=env, cwd=tmp_path),
        _axon("api-keys", "create", "nobody", env=env, cwd=tmp_path),
    )

    assert (duplicate.returncode, duplicate.stderr) == (1, "error: Username 'ops' is taken.\n")
    assert too_short.returncode == 1
    assert too_short.stderr == "error: password: String should have at least 8 characters\n"
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (1, "", "error: No user 'nobody'.\n")


async def test_migrate_brings_an_empty_database_to_head(empty_database_url: str, tmp_path: Path):
    env = _environment(empty_database_url)
    before = await _axon("api-keys", "create", "ops", env=env, cwd=tmp_path)
    result = await _axon("migrate", env=env, cwd=tmp_path)

    assert before.returncode == 1
    assert before.stderr == IsStr(
        regex=r"error: database: .*users.* \(is it running, and migrated with `axon migrate`\?\)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "database at head\n"
    engine = create_engine(empty_database_url)
    try:
        assert await migrate.current_revision(engine) == migrate.head_revision(empty_database_url)
    finally:
        await engine.dispose()


async def test_production_without_secret_refuses_to_start(tmp_path: Path):
    env = _environment(f"sqlite+aiosqlite:///{tmp_path / 'axon.db'}", AXON_ENV="production")

    result = await _axon("serve", "--port", str(_free_port()), env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr == "error: AXON_ENV=production requires AXON_SECRET_KEY (at least 32 characters)\n"
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "axon.db").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    base_url: str
    lines: list[str] = field(default_factory=list[str])
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def add(self, line: str) -> None:
        async with self.arrived:
            self.lines.append(line)
            self.arrived.notify_all()

    async def wait_for_line(self, needle: str) -> str:
        """The first output line containing ``needle``, as soon as the server prints it."""
        async with asyncio.timeout(STARTUP_TIMEOUT), self.arrived:
            await self.arrived.wait_for(lambda: any(needle in line for line in self.lines))
            return next(line for line in self.lines if needle in line)


@asynccontextmanager
async def _serve(env: dict[str, str], cwd: Path) -> AsyncIterator[Server]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        AXON, "serve", "--port", str(port), env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}")

    async def drain() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            await server.add(line.decode())

    reader = asyncio.create_task(drain())
    try:
        await server.wait_for_line("Application startup complete")
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()
        await reader


async def test_serve_end_to_end_in_development(tmp_path: Path):
    """A new user's first minutes: migrate, bootstrap admin, key and token work, typed 404, restart."""
    env = _environment(f"sqlite+aiosqlite:///{tmp_path / 'axon.db'}", AXON_ENV="development")

    async with _serve(env, tmp_path) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        key = (await server.wait_for_line("API key:")).split("API key:")[1].strip()
        password = (await server.wait_for_line("password:")).split("password:")[1].strip()
        ready = await http.get("/health/ready")
        me = await http.get("/users/me", headers={"Authorization": f"Bearer {key}"})
        token = (await http.post("/auth/token", data={"username": "admin", "password": password})).json()
        missing = await http.get("/agents/does-not-exist", headers={"Authorization": f"Bearer {key}"})
        first_run = "".join(server.lines)

    assert ready.status_code == 200
    assert me.json() == {"id": IsStr(), "username": "admin", "role": "admin", "created_at": IsStr()}
    assert token == {"access_token": IsStr(), "token_type": "bearer", "expires_in": 3600}
    assert missing.status_code == 404
    assert missing.json() == {
        "status": "error",
        "error_type": "NotFound",
        "message": IsStr(),
        "details": None,
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": missing.headers["x-request-id"],
    }
    assert first_run.count(key) == 1
    assert "Traceback" not in first_run
    secret_file = tmp_path / SECRET_FILE_NAME
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()

    async with _serve(env, tmp_path) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        by_token = await http.get("/users/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        second_run = "".join(server.lines)

    assert by_token.status_code == 200  # the JWT from before the restart: the secret was kept
    assert by_token.json() == me.json()
    assert "API key:" not in second_run  # bootstrap happens once
    assert secret_file.read_text() == secret
