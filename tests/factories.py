"""Plain async factories that go through the real services."""

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert, inspect

from app.auth import service
from app.auth.models import ApiKey, User
from app.auth.schemas import UserCreate
from app.config import Settings
from app.db import Database

DEFAULT_PASSWORD = "correct horse battery"
FAST_HASHING = {"password_hash_time_cost": 1, "password_hash_memory_kib": 64}
"""Cheap argon2 for every test app and server process (the settings' defaults are the production cost)."""


async def create_user(app: FastAPI, username: str, role: str = "user", password: str = DEFAULT_PASSWORD) -> User:
    database: Database = app.state.database
    settings: Settings = app.state.settings
    async with database.sessionmaker() as session, session.begin():
        return await service.create_user(
            session,
            settings,
            UserCreate(username=username, password=password, role="admin" if role == "admin" else "user"),
        )


async def auth_headers(app: FastAPI, username: str, role: str = "user") -> dict[str, str]:
    """A new user with an API key, as request headers."""
    return (await seed_user(app, username, role)).headers


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in inspect(row).mapper.column_attrs}


@dataclass(frozen=True)
class Seed:
    """A user and its API key as stored: put back with one insert each after the tables were emptied."""

    user: dict[str, Any]
    api_key: dict[str, Any]
    headers: dict[str, str]

    async def restore(self, database: Database) -> None:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(insert(User), [self.user])
            await session.execute(insert(ApiKey), [self.api_key])


async def seed_user(app: FastAPI, username: str, role: str = "user") -> Seed:
    """A new user with an API key (through the real services), and its rows to restore it later."""
    user = await create_user(app, username, role)
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        api_key, key = await service.create_api_key(session, user.id, "test")
    async with database.sessionmaker() as session:  # the rows as stored, server defaults included
        stored_user, stored_key = await session.get_one(User, user.id), await session.get_one(ApiKey, api_key.id)
        return Seed(_columns(stored_user), _columns(stored_key), {"Authorization": f"Bearer {key}"})
