"""Scratch databases for tests: a fresh SQLite file, or a Postgres database created and dropped."""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate

POSTGRES_URL = os.environ.get("AXON_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


async def _postgres_admin(sql: str) -> None:
    assert POSTGRES_URL
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def scratch_database(backend: str, folder: Path, prefix: str, *, migrated: bool) -> AsyncIterator[str]:
    """A new database on ``backend`` (migrated to head if asked), removed afterwards on Postgres."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / f'{prefix}.db'}"
        if migrated:
            await migrate.upgrade_async(url)
        yield url
        return
    assert POSTGRES_URL
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        if migrated:
            await migrate.upgrade_async(url)
        yield url
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
