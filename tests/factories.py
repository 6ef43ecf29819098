"""Plain async factories that go through the real services."""

from fastapi import FastAPI

from app.auth import service
from app.auth.models import User
from app.auth.schemas import UserCreate
from app.db import Database

DEFAULT_PASSWORD = "correct horse battery"


async def create_user(app: FastAPI, username: str, role: str = "user", password: str = DEFAULT_PASSWORD) -> User:
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        return await service.create_user(
            session, UserCreate(username=username, password=password, role="admin" if role == "admin" else "user")
        )


async def auth_headers(app: FastAPI, username: str, role: str = "user") -> dict[str, str]:
    """A new user with an API key, as request headers."""
    user = await create_user(app, username, role)
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        _, key = await service.create_api_key(session, user.id, "test")
    return {"Authorization": f"Bearer {key}"}
