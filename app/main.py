"""The application factory: lifespan-owned resources, routers, error handlers."""

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.auth.ratelimit import LoginLimiter
from app.auth.router import router as auth_router
from app.config import Settings, get_settings
from app.db import Database
from app.errors import ErrorEnvelope, RequestIdMiddleware, install_error_handlers
from app.health.router import router as health_router
from app.migrate import head_revision

DESCRIPTION = """\
Axon stores JSON agent definitions and runs them as pydantic-ai agents.

Every non-2xx response is the `ErrorEnvelope` schema; `error_type` tells the caller
whether to retry (`retryable`, `retry_after`). Authenticate with `Authorization: Bearer`
and either a JWT from `POST /auth/token` or an API key (`axk_…`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        database = Database(settings.database_url, head_revision(settings.database_url))
        app.state.database = database
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="Axon",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.login_limiter = LoginLimiter(settings.login_max_failures, settings.login_failure_window_seconds)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    for router in (health_router, auth_router):
        app.include_router(router)
    _publish_envelope_schema(app)
    return app


def _publish_envelope_schema(app: FastAPI) -> None:
    """Make `ErrorEnvelope` a named component even on routes that declare no error responses."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault(
                "ErrorEnvelope", ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
