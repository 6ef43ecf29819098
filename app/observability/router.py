"""``GET /metrics``: Prometheus text format, and ``GET /usage``: tokens, requests, runs and cost (API.md §7).

No user authentication: Prometheus scrapes it. Set ``AXON_METRICS_TOKEN`` to require
``Authorization: Bearer <token>``; a missing or wrong token is the 401 envelope.
"""

import datetime as dt
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.deps import CurrentPrincipal
from app.config import SettingsDep
from app.db import DatabaseDep, SessionDep
from app.errors import Unauthorized, error_responses
from app.observability import metrics, service
from app.observability.schemas import UsageGroup, UsageReport

router = APIRouter(tags=["operations"])
_bearer = HTTPBearer(auto_error=False, description="`AXON_METRICS_TOKEN`, when the server sets one.")


async def _metrics_access(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if settings.metrics_token is None:
        return
    expected = settings.metrics_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected):
        raise Unauthorized("Missing or wrong metrics token.")


MetricsAccess = Depends(_metrics_access)


@router.get(
    "/metrics",
    dependencies=[MetricsAccess],
    response_class=Response,
    responses={200: {"content": {metrics.CONTENT_TYPE: {}}}, **error_responses(401)},
    summary="Prometheus metrics",
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},  # the token is optional: only when the server sets one
    description="Text exposition format, one view of all workers. No user authentication; "
    "when the server sets `AXON_METRICS_TOKEN`, send it as `Authorization: Bearer <token>`.",
)
async def read_metrics(database: DatabaseDep) -> Response:
    body = metrics.exposition(await service.queued_runs(database))
    return Response(body, media_type=metrics.CONTENT_TYPE)


@router.get(
    "/usage",
    responses=error_responses(401),
    summary="Usage and cost of runs, grouped",
    description="Runs created in `[from, to)` (default: the 30 days before `to`, default now), grouped by agent, "
    "model (the definition's reference), owner or UTC day. Users see their own runs; admins every owner's. "
    "A window with `from` at or after `to` holds nothing: an empty report.",
)
async def read_usage(
    principal: CurrentPrincipal,
    session: SessionDep,
    group_by: UsageGroup = "agent",
    start: Annotated[dt.datetime | None, Query(alias="from")] = None,
    to: dt.datetime | None = None,
) -> UsageReport:
    return await service.usage_report(session, principal, start, to, group_by)
