"""The ``axon`` command (API.md §8)."""

import argparse
import asyncio
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrate
from app.agents import cli as agents_cli
from app.auth import service as auth_service
from app.auth.schemas import UserCreate
from app.config import get_settings
from app.db import Database
from app.errors import AppError
from app.observability import logging as logs
from app.observability import multiproc

T = TypeVar("T")
WORKER_HEALTHCHECK_SECONDS = 60
"""How long uvicorn waits for a worker's health answer before killing it: a worker importing and
starting the app on a busy machine can hold the interpreter for longer than uvicorn's default 5 s."""


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(get_settings().database_url)
        try:
            async with database.sessionmaker() as session, session.begin():
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    if not args.no_migrate:
        migrate.upgrade(settings.database_url)
    if settings.env == "development":
        _with_session(_bootstrap_admin)
    with multiproc.shared_metrics(args.workers):  # /metrics answers for all workers
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=args.workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            log_config=logs.config(settings.log_format, settings.log_level, settings.log_content),
        )
    return 0


async def _bootstrap_admin(session: AsyncSession) -> None:
    """On an empty development database: one admin and a one-time API key, printed once."""
    if await auth_service.count_users(session):
        return
    password = secrets.token_urlsafe(18)
    user = await auth_service.create_user(
        session, get_settings(), UserCreate(username="admin", password=password, role="admin")
    )
    _, key = await auth_service.create_api_key(session, user.id, "bootstrap")
    print(
        "Development bootstrap: created user 'admin'\n"
        f"  password: {password}\n"
        f"  API key:  {key}\n"
        "Shown once; keep them somewhere safe.",
        flush=True,
    )


def _migrate(_: argparse.Namespace) -> int:
    migrate.upgrade(get_settings().database_url)
    print("database at head")
    return 0


def _users_create(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password == "-" else args.password
    data = UserCreate(username=args.username, password=password, role="admin" if args.admin else "user")
    user = _with_session(lambda s: auth_service.create_user(s, get_settings(), data))
    print(f"created {user.role} {user.username} ({user.id})")
    return 0


def _api_keys_create(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        user = await auth_service.get_user_by_name(session, args.username)
        _, key = await auth_service.create_api_key(session, user.id, args.name)
        return key

    print(_with_session(work))
    return 0


def _agents_apply(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> list[str]:
        owner = await agents_cli.principal_for(session, args.owner)
        return await agents_cli.apply_path(session, get_settings(), owner, Path(args.path))

    for line in _with_session(work):
        print(line)
    return 0


def _agents_export(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        return await agents_cli.export_agent(session, await agents_cli.principal_for(session, args.owner), args.name)

    print(_with_session(work), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="axon", description="Axon agent service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (migrates first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true")
    serve.set_defaults(handler=_serve)

    commands.add_parser("migrate", help="upgrade the database to the latest migration").set_defaults(handler=_migrate)

    users = commands.add_parser("users").add_subparsers(dest="users_command", required=True)
    create_user = users.add_parser("create", help="create a user")
    create_user.add_argument("username")
    create_user.add_argument("--password", required=True, help="the password, or - to read it from stdin")
    create_user.add_argument("--admin", action="store_true")
    create_user.set_defaults(handler=_users_create)

    keys = commands.add_parser("api-keys").add_subparsers(dest="keys_command", required=True)
    create_key = keys.add_parser("create", help="create an API key; the key alone is the last line")
    create_key.add_argument("username")
    create_key.add_argument("--name", default="cli")
    create_key.set_defaults(handler=_api_keys_create)

    agents = commands.add_parser("agents").add_subparsers(dest="agents_command", required=True)
    apply = agents.add_parser("apply", help="create or update agents from a YAML/JSON file or a folder of them")
    apply.add_argument("path")
    apply.add_argument("--owner", default="admin", help="the user who owns the agents (default: admin)")
    apply.set_defaults(handler=_agents_apply)
    export = agents.add_parser("export", help="print an agent's current definition as YAML")
    export.add_argument("name")
    export.add_argument("--owner", default="admin", help="whose view of the agents to use (default: admin)")
    export.set_defaults(handler=_agents_export)

    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except ValidationError as exc:
        # Bad configuration or a bad argument: say which, without a traceback.
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(
                f"error: {where + ': ' if where else ''}{error['msg'].removeprefix('Value error, ')}", file=sys.stderr
            )
    except (SQLAlchemyError, OSError) as exc:
        # Unreachable or not migrated; the driver's first line says which (it never holds the password).
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: database: {reason} (is it running, and migrated with `axon migrate`?)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
