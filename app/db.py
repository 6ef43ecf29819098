"""Declarative base, portable column types, the request-scoped session, and what a database outage looks like."""

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import asyncpg.exceptions as pg_exc  # pyright: ignore[reportMissingTypeStubs]
from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType}


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _enable_sqlite_pragmas(engine)
        return engine
    return create_async_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def _enable_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


class Database:
    """The engine and its sessionmaker, built in the lifespan and kept on ``app.state``."""

    def __init__(self, url: str, head_revision: str | None = None) -> None:
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.head_revision = head_revision
        """The migration the code expects; ``/health/ready`` compares the database with it."""

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]


# --- database outages -------------------------------------------------------------------------------

_SA_CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)
"""SQLAlchemy's own connection-level failures (``TimeoutError`` is the pool's: no connection came free)."""
_PG_CONNECTION_ERRORS = (
    pg_exc.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, ...
    pg_exc.CannotConnectNowError,  # the server is starting up or shutting down
    pg_exc.AdminShutdownError,
    pg_exc.CrashShutdownError,
    pg_exc.TooManyConnectionsError,
    pg_exc.InterfaceError,  # "connection is closed"
)
_CONNECTION_ERRORS = (*_SA_CONNECTION_ERRORS, *_PG_CONNECTION_ERRORS)
_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.", "psycopg.")


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached right now, as opposed to a bad query or a bug."""
    for link in _causes(exc):
        if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, _CONNECTION_ERRORS):
            return True
        if isinstance(link, OSError) and _raised_in_driver(link):  # ConnectionRefusedError, TimeoutError, ...
            return True
    return False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps (``DBAPIError.orig``) and its causes and contexts, each once."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        link = pending.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        wrapped = link.orig if isinstance(link, sa_exc.DBAPIError) else None
        pending.extend(e for e in (wrapped, link.__cause__, link.__context__) if isinstance(e, BaseException))


def _raised_in_driver(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_DRIVER_MODULES):
            return True
        traceback = traceback.tb_next
    return False
