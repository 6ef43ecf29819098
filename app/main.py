"""The application factory: lifespan-owned resources, routers, error handlers."""

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from app.agents.build import AgentFactory
from app.agents.router import router as agents_router
from app.auth import security
from app.auth.ratelimit import LoginLimiter
from app.auth.router import router as auth_router
from app.config import Settings, get_settings
from app.db import Database
from app.doors import open_responses, openai_chat, openai_common
from app.doors.openai_errors import OPENAI_PREFIX, openai_error_body
from app.error_handlers import install_error_handlers
from app.errors import ErrorEnvelope, install_error_shapes
from app.health.router import router as health_router
from app.inputs import check_inputs
from app.llm.resolve import create_http_client
from app.llm.router import router as model_endpoints_router
from app.middleware import AllowHeaderMiddleware, BodyLimitMiddleware, RequestIdMiddleware, UnexpectedErrorMiddleware
from app.migrate import head_revision
from app.observability import metrics
from app.observability.http import HttpMetricsMiddleware
from app.observability.router import router as metrics_router
from app.openapi import exact_inputs
from app.runs.background import Background
from app.runs.durable import DurableAgents, executor_id_of
from app.runs.executor import RunExecutor
from app.runs.follow import Follower
from app.runs.notify import Notifier
from app.runs.router import router as runs_router
from app.runs.service import Admission
from app.runtime import ModelResolver
from app.sessions.router import router as sessions_router
from app.tools.registry import ToolRegistry
from app.tools.router import router as tools_router

ENVELOPE_REF_TEMPLATE = "#/components/schemas/{model}"

DESCRIPTION = """\
Axon stores JSON agent definitions and runs them as pydantic-ai agents.

Every non-2xx response is the `ErrorEnvelope` schema; `error_type` tells the caller
whether to retry (`retryable`, `retry_after`). Authenticate with `Authorization: Bearer`
and either a JWT from `POST /auth/token` or an API key (`axk_…`).
"""


def create_app(settings: Settings | None = None, *, model_resolver: ModelResolver | None = None) -> FastAPI:
    """The app. ``model_resolver`` (tests, benchmarks) picks a model per agent name instead of the definition's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        settings.resolved_secret_key()  # fail fast, and create the development secret before serving
        await security.prepare(settings)
        database = Database(settings.database_url, head_revision(settings.database_url))
        app.state.database = database
        app.state.tool_registry = ToolRegistry.load(settings)
        model_http_client = create_http_client(settings)  # one pooled client for all model traffic
        app.state.agent_factory = AgentFactory(
            settings, database, model_http_client, toolset_options={"registry": app.state.tool_registry}
        )
        webhook_client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        notifier = Notifier(database, settings.database_url)
        executor = RunExecutor(
            settings, database, notifier, app.state.agent_factory, executor_id_of(settings), model_resolver
        )
        follower = Follower(executor.live, database, notifier)
        admission = Admission(settings, database, executor, follower, webhook_client)
        executor.services = admission
        background = Background(settings, database, executor, notifier, DurableAgents(app.state.agent_factory))
        admission.background = background
        app.state.run_executor, app.state.follower, app.state.admission = executor, follower, admission
        app.state.background = background
        await background.start()  # launches DBOS: this executor's interrupted background runs resume now
        try:
            yield
        finally:
            # Stop accepting, give sync/stream runs their grace period, then leave background runs to resume.
            await executor.shutdown(settings.shutdown_grace_seconds)
            await background.stop()
            await webhook_client.aclose()
            await model_http_client.aclose()
            await database.dispose()
            metrics.process_exited()

    app = FastAPI(
        title="Axon",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(check_inputs)],  # before any route's own: no NUL or NaN reaches a query
    )
    app.state.settings = settings
    app.state.login_limiter = LoginLimiter(settings.login_max_failures, settings.login_failure_window_seconds)
    install_error_handlers(app)
    install_error_shapes(app, {OPENAI_PREFIX: openai_error_body})
    app.add_middleware(UnexpectedErrorMiddleware)  # innermost: just outside the routes' exception handlers
    app.add_middleware(AllowHeaderMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last, so outermost: every response gets its id
    routers = (health_router, auth_router, tools_router, agents_router, model_endpoints_router, runs_router)
    for router in (*routers, sessions_router, metrics_router):
        app.include_router(router)
    openai_doors = (openai_common.router, openai_chat.router, open_responses.router)  # /v1, API.md §6.1
    for door in openai_doors:
        app.include_router(door)
    _publish_envelope_schema(app)
    return app


def _publish_envelope_schema(app: FastAPI) -> None:
    """Point every error response of every route at the one `ErrorEnvelope` component.

    Routes declare their specific statuses with `error_responses(...)`; this adds the 500
    every route can answer and replaces FastAPI's `HTTPValidationError` 422 body, which
    the service never sends.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = exact_inputs(_with_envelope(original()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _with_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorEnvelope", ErrorEnvelope.model_json_schema(ref_template=ENVELOPE_REF_TEMPLATE))
    envelope = {"application/json": {"schema": {"$ref": ENVELOPE_REF_TEMPLATE.format(model="ErrorEnvelope")}}}
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS or path.startswith(OPENAI_PREFIX):  # the doors declare their own
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            responses.setdefault("500", {"description": "Error envelope (InternalError)"})
            for code, response in responses.items():
                if code[0] in "45" or code == "default":
                    response["content"] = envelope
    for name in _FASTAPI_ERROR_SCHEMAS:
        rest = {key: value for key, value in components.items() if key != name}
        if f'"{ENVELOPE_REF_TEMPLATE.format(model=name)}"' not in json.dumps([schema.get("paths"), rest]):
            components.pop(name, None)
    return schema
