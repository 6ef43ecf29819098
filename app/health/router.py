from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.db import DatabaseDep
from app.errors import error_responses
from app.health import service

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"
    migration: str | None = Field(default=None, description="The database's migration revision (readiness only).")


@router.get("/live", summary="Liveness: the process is up", description="No authentication; touches nothing.")
async def live() -> HealthStatus:
    return HealthStatus()


@router.get(
    "/ready",
    responses=error_responses(503),
    summary="Readiness: the database is reachable and migrated to head",
    description=(
        "No authentication. `503` with the error envelope (`error_type: Overloaded`, `retryable: true`, "
        "`Retry-After`) when the database is unreachable or its schema is not at the latest migration "
        "(`details.current` / `details.expected`)."
    ),
)
async def ready(database: DatabaseDep) -> HealthStatus:
    return HealthStatus(migration=await service.check_ready(database))
